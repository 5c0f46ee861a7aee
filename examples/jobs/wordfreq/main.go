// Command wordfreq is a coop compute job: it counts the words of its input
// (stdin; letters and digits, case-folded) and prints "count word" lines,
// most frequent first, ties in byte order. An optional argument limits the
// number of lines.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -o wordfreq.wasm ./examples/jobs/wordfreq
package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

func main() {
	limit := -1
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil || n < 0 {
			fmt.Fprintln(os.Stderr, "wordfreq: argument must be a line limit")
			os.Exit(2)
		}
		limit = n
	}
	counts := map[string]int{}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(bufio.ScanWords)
	for sc.Scan() {
		for _, w := range strings.FieldsFunc(sc.Text(), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		}) {
			counts[strings.ToLower(w)]++
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "wordfreq:", err)
		os.Exit(1)
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	if limit >= 0 && limit < len(words) {
		words = words[:limit]
	}
	out := bufio.NewWriter(os.Stdout)
	for _, w := range words {
		fmt.Fprintf(out, "%d %s\n", counts[w], w)
	}
	out.Flush()
}
