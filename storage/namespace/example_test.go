package namespace_test

import (
	"fmt"

	"github.com/coop-network/coop/storage/namespace"
)

// Two devices start from the same tree; the laptop's SetRoot loses the
// compare-and-swap, so it merges its changes into the phone's tree.
func ExampleMerge() {
	base := namespace.New()
	report := namespace.File{Size: 10}
	report.FileID[0] = 0x01
	base.PutFile("/docs/report.pdf", report, true)

	phone, laptop := base.Clone(), base.Clone()
	edited := report
	edited.FileID[0] = 0x02
	phone.PutFile("/docs/report.pdf", edited, false)
	mine := report
	mine.FileID[0] = 0x03
	laptop.PutFile("/docs/report.pdf", mine, false)
	laptop.Mkdir("/photos", false)

	merged, conflicts := namespace.Merge(base, phone, laptop, "laptop")
	merged.Walk(func(p string, e *namespace.Entry) error {
		fmt.Println(p)
		return nil
	})
	for _, c := range conflicts {
		fmt.Printf("%s: %s kept, the other is %s\n", c.Kind, c.Path, c.CopyPath)
	}
	// Output:
	// /
	// /docs
	// /docs/report (conflict laptop 03000000).pdf
	// /docs/report.pdf
	// /photos
	// both-modified: /docs/report.pdf kept, the other is /docs/report (conflict laptop 03000000).pdf
}

func ExampleSeal() {
	var accountKey [32]byte // in the node: derived from the account key
	p := namespace.Pointer{Size: 4096}
	sealed, _ := namespace.Seal(accountKey, []byte("coop-test account-1"), p)
	got, err := namespace.Open(accountKey, []byte("coop-test account-1"), sealed)
	fmt.Println(len(sealed), got.Size, err)
	_, err = namespace.Open(accountKey, []byte("coop-test account-2"), sealed)
	fmt.Println(err)
	// Output:
	// 101 4096 <nil>
	// namespace: sealed root pointer does not open: wrong key, associated data or tampered
}
