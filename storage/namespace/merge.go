package namespace

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kinds of Conflict.
const (
	// ConflictBothModified: both sides changed a file that was in the base
	// to different contents; the loser's version is at CopyPath.
	ConflictBothModified = "both-modified"
	// ConflictBothAdded: both sides put different files at a path the base
	// did not have as a file; the loser's is at CopyPath.
	ConflictBothAdded = "both-added"
	// ConflictModifiedDeleted: one side removed what the other changed; the
	// changed file (or the directory, still holding what was changed or
	// added in it) stays at Path, and CopyPath is "".
	ConflictModifiedDeleted = "modified-deleted"
	// ConflictDirFile: one side has a directory where the other has a file;
	// the directory stays at Path and the file (whichever side's) is at
	// CopyPath.
	ConflictDirFile = "dir-file"
)

// Conflict is a path where Merge had to keep both sides' changes, or keep
// a change the other side removed.
type Conflict struct {
	Path     string // the path both sides changed
	CopyPath string // where the file that lost the path now is; "" if none moved
	Kind     string // one of the Conflict* kinds
}

// maxLabel bounds the caller's label in conflict copy names.
const maxLabel = 64

// Merge merges two trees changed from a common base, after the winner
// committed first and the loser's compare-and-swap failed. A nil tree is
// an empty one. The result is a new tree (the inputs are not changed): the
// winner, with the loser's changes relative to base applied, path by path:
//
//   - a path only the loser added, changed or removed gets the loser's
//     change; identical changes on both sides are not conflicts;
//   - a file both changed to different contents keeps the winner's at the
//     path and the loser's as a conflict copy beside it (both-modified, or
//     both-added when the base had no file there); the same contents (file
//     id and key) with different metadata keep the winner's;
//   - a file changed on one side and removed on the other is kept, changed
//     (modified-deleted; a directory the loser removed stays if the winner
//     put or kept something changed in it, and a directory the winner
//     removed is made again for what the loser put under it);
//   - a file where the other side has a directory: the directory stays at
//     the path and the file becomes a conflict copy (dir-file);
//   - directories made on both sides merge; a directory's Redundancy and
//     MTime take the loser's change if the winner did not change them.
//
// A rename is a removal and an addition, so a rename on one side and an
// edit of the same file on the other ends with both names present: the
// renamed (old) contents at the new name and the edited ones at the old
// name. Nothing either side wrote is lost: every file id present on either
// side and not at the same path in the base is in the result.
//
// A conflict copy is named from the path's last component, keeping its
// extension: "report.pdf" becomes "report (conflict LABEL 1a2b3c4d).pdf",
// LABEL being conflictLabel (e.g. the losing device's name; '/' and
// control characters become '-', at most 64 bytes) and 1a2b3c4d the first
// bytes of the copied file's id in hex; if that name is taken, " 2", " 3",
// … is added before the ')'. Merge is deterministic: the same inputs give
// the same tree and conflicts (in the order found). The result may break a
// limit (MaxEntries) that both inputs kept, which Encode reports.
func Merge(base, winner, loser *Tree, conflictLabel string) (*Tree, []Conflict) {
	if base == nil {
		base = New()
	}
	if winner == nil {
		winner = New()
	}
	if loser == nil {
		loser = New()
	}
	m := &merger{
		base:   base,
		winner: winner,
		loser:  loser,
		r:      winner.Clone(),
		label:  cleanLabel(conflictLabel),
		made:   make(map[string]bool),
	}
	if !equalTree(base.Root, loser.Root) {
		m.collect("/", base.Root, winner.Root, loser.Root)
	}
	m.removeFiles()
	m.removeDirs()
	m.add()
	m.attrs()
	return m.r, m.conflicts
}

// at is one path the loser may have changed: the entries the base, the
// winner and the loser have there (nil where they have none).
type at struct {
	p       string
	b, w, l *Entry
}

type merger struct {
	base, winner, loser *Tree
	changed             []at // where the loser's tree differs from the base, in Walk order
	r                   *Tree
	label               string
	made                map[string]bool // conflict copies made so far
	conflicts           []Conflict
}

// collect lists p and, below it, every path where the base's and the
// loser's subtrees differ (an equal subtree holds no change of the loser's,
// so it is skipped whole), with the winner's entry at each.
func (m *merger) collect(p string, b, w, l *Entry) {
	m.changed = append(m.changed, at{p, b, w, l})
	bk, wk, lk := dirChildren(b), dirChildren(w), dirChildren(l)
	for i, j := 0, 0; i < len(bk) || j < len(lk); {
		var bc, lc *Entry
		switch {
		case j == len(lk) || i < len(bk) && bk[i].Name < lk[j].Name:
			bc, i = bk[i], i+1
		case i == len(bk) || lk[j].Name < bk[i].Name:
			lc, j = lk[j], j+1
		default:
			bc, lc, i, j = bk[i], lk[j], i+1, j+1
		}
		if equalTree(bc, lc) {
			continue
		}
		name := cmpName(bc, lc)
		var wc *Entry
		if wk != nil {
			if k, ok := w.child(name); ok {
				wc = wk[k]
			}
		}
		m.collect(join(p, name), bc, wc, lc)
	}
}

// dirChildren returns e's entries if e is a directory.
func dirChildren(e *Entry) []*Entry {
	if e == nil || !e.Dir {
		return nil
	}
	return e.Children
}

// cmpName returns the name of whichever of a, b is not nil.
func cmpName(a, b *Entry) string {
	if a != nil {
		return a.Name
	}
	return b.Name
}

// equalTree reports whether two subtrees are the same, every field.
func equalTree(a, b *Entry) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Name != b.Name || a.Dir != b.Dir || !a.File.Equal(b.File) || a.Redundancy != b.Redundancy ||
		a.MTime != b.MTime || len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Children {
		if !equalTree(a.Children[i], b.Children[i]) {
			return false
		}
	}
	return true
}

// file returns e's file, or nil if e is not a file.
func file(e *Entry) *File {
	if e != nil && !e.Dir {
		return &e.File
	}
	return nil
}

// dir returns e if it is a directory, else nil.
func dir(e *Entry) *Entry {
	if e != nil && e.Dir {
		return e
	}
	return nil
}

func (m *merger) conflict(p, copyPath, kind string) {
	m.conflicts = append(m.conflicts, Conflict{Path: p, CopyPath: copyPath, Kind: kind})
}

// sameContent reports whether two files are the same stored file (for a
// parted file: the same parts, which its FileID, PartsID, stands for).
func sameContent(a, b *File) bool { return a.FileID == b.FileID && a.Key == b.Key }

// removeFiles removes from the result the base's files the loser removed
// (or replaced by a directory) and the winner left as they were.
func (m *merger) removeFiles() {
	for _, c := range m.changed {
		bf := file(c.b)
		if bf == nil || file(c.l) != nil {
			continue
		}
		wf := file(c.w)
		switch {
		case wf == nil:
		case wf.Equal(*bf):
			m.remove(c.p)
		case c.l == nil:
			m.conflict(c.p, "", ConflictModifiedDeleted)
		}
	}
}

// removeDirs removes, deepest first, the base's directories the loser
// removed (or replaced by a file) once nothing is left in them.
func (m *merger) removeDirs() {
	for i := len(m.changed) - 1; i >= 0; i-- {
		c := m.changed[i]
		if c.p == "/" || dir(c.b) == nil || dir(c.l) != nil || dir(c.w) == nil {
			continue
		}
		e, _ := m.r.find(c.p)
		switch {
		case e == nil || !e.Dir:
		case len(e.Children) == 0:
			m.remove(c.p)
		case c.l == nil && !m.reportedWithin(c.p):
			m.conflict(c.p, "", ConflictModifiedDeleted)
		}
	}
}

// reportedWithin reports whether a conflict was found at p or below it.
func (m *merger) reportedWithin(p string) bool {
	for _, c := range m.conflicts {
		if within(c.Path, p) {
			return true
		}
	}
	return false
}

// add applies the loser's additions and changes, parents first.
func (m *merger) add() {
	for _, c := range m.changed {
		p, le, be := c.p, c.l, c.b
		if le == nil || p == "/" {
			continue
		}
		if be != nil && le.Dir == be.Dir && (le.Dir || le.File.Equal(be.File)) {
			continue // unchanged from the base (directory attributes: see attrs)
		}
		if le.Dir {
			m.ensureDir(p)
			continue
		}
		lf, bf := &le.File, file(be)
		re, _ := m.r.find(p)
		switch {
		case re == nil:
			m.put(p, *lf)
			if bf != nil && c.w == nil {
				m.conflict(p, "", ConflictModifiedDeleted)
			}
		case re.Dir:
			cp := m.put(m.copyPath(p, lf), *lf)
			m.conflict(p, cp, ConflictDirFile)
		case bf != nil && re.File.Equal(*bf):
			re.File, re.MTime = *lf, lf.MTime
		case sameContent(&re.File, lf):
		default:
			kind := ConflictBothModified
			if bf == nil {
				kind = ConflictBothAdded
			}
			cp := m.put(m.copyPath(p, lf), *lf)
			m.conflict(p, cp, kind)
		}
	}
}

// attrs applies the loser's changes to directories' Redundancy and MTime
// where the winner did not change them (or the directory is not the
// winner's).
func (m *merger) attrs() {
	for _, c := range m.changed {
		ld := dir(c.l)
		if ld == nil {
			continue
		}
		rd, _ := m.r.find(c.p)
		if rd == nil || !rd.Dir {
			continue
		}
		wd := dir(c.w)
		if wd == nil {
			rd.Redundancy, rd.MTime = ld.Redundancy, ld.MTime
			continue
		}
		var base Entry
		if bd := dir(c.b); bd != nil {
			base = *bd
		}
		if ld.Redundancy != base.Redundancy && wd.Redundancy == base.Redundancy {
			rd.Redundancy = ld.Redundancy
		}
		if ld.MTime != base.MTime && wd.MTime == base.MTime {
			rd.MTime = ld.MTime
		}
	}
}

// has reports whether the tree has an entry at clean path p.
func (t *Tree) has(p string) bool {
	_, err := t.find(p)
	return err == nil
}

// remove removes the entry at p from the result.
func (m *merger) remove(p string) {
	d, err := m.r.dirOf(p, false)
	if err != nil {
		return
	}
	_, name := parentOf(p)
	if i, ok := d.child(name); ok {
		d.Children = slices.Delete(d.Children, i, i+1)
	}
}

// ensureDir makes the directory p and those above it in the result; a
// file in the way is moved to a conflict copy (dir-file).
func (m *merger) ensureDir(p string) *Entry {
	d, at := m.r.Root, "/"
	for _, name := range split(p) {
		at = join(at, name)
		i, ok := d.child(name)
		if ok && !d.Children[i].Dir {
			f := d.Children[i]
			cp := m.copyPath(at, &f.File)
			d.Children = slices.Delete(d.Children, i, i+1)
			_, f.Name = parentOf(cp)
			j, _ := d.child(f.Name)
			d.Children = slices.Insert(d.Children, j, f)
			m.conflict(at, cp, ConflictDirFile)
			i, ok = d.child(name)
		}
		if !ok {
			d.Children = slices.Insert(d.Children, i, &Entry{Name: name, Dir: true})
		}
		d = d.Children[i]
	}
	return d
}

// put puts f at p in the result, making directories above it, and
// returns p.
func (m *merger) put(p string, f File) string {
	dir, name := parentOf(p)
	d := m.ensureDir(dir)
	i, ok := d.child(name)
	e := &Entry{Name: name, File: f, MTime: f.MTime}
	if ok {
		d.Children[i] = e
	} else {
		d.Children = slices.Insert(d.Children, i, e)
	}
	return p
}

// copyPath returns a free path for a conflict copy of f, beside p.
func (m *merger) copyPath(p string, f *File) string {
	dir, name := parentOf(p)
	stem, ext := splitExt(name)
	for n := 1; ; n++ {
		tag := fmt.Sprintf(" (conflict %s %x)", m.label, f.FileID[:4])
		if n > 1 {
			tag = fmt.Sprintf(" (conflict %s %x %d)", m.label, f.FileID[:4], n)
		}
		s := stem
		if over := len(s) + len(tag) + len(ext) - MaxNameLen; over > 0 {
			s = truncate(s, len(s)-over)
		}
		cp := join(dir, s+tag+ext)
		if !m.made[cp] && !m.base.has(cp) && !m.winner.has(cp) && !m.loser.has(cp) {
			m.made[cp] = true
			return cp
		}
	}
}

// splitExt splits name before its extension: "a.tar.gz" → "a.tar", ".gz";
// a leading dot (".profile") is no extension, nor is a long or empty tail.
func splitExt(name string) (stem, ext string) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || i == len(name)-1 || len(name)-i > 16 {
		return name, ""
	}
	return name[:i], name[i:]
}

// truncate cuts s to at most n bytes at a rune boundary.
func truncate(s string, n int) string {
	if n >= len(s) {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cleanLabel makes the caller's label fit a name: valid UTF-8, no '/' or
// control characters, at most maxLabel bytes, "merge" if empty.
func cleanLabel(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || unicode.IsControl(r) {
			return '-'
		}
		return r
	}, strings.ToValidUTF8(s, "-"))
	s = strings.TrimSpace(truncate(s, maxLabel))
	if s == "" {
		return "merge"
	}
	return s
}
