package namespace

import (
	"fmt"
	"slices"
)

// mergeRef is the first Merge, path maps of all three trees: the
// reference the tree walk of Merge is checked against.
func mergeRef(base, winner, loser *Tree, conflictLabel string) (*Tree, []Conflict) {
	if base == nil {
		base = New()
	}
	if winner == nil {
		winner = New()
	}
	if loser == nil {
		loser = New()
	}
	m := &refMerger{
		b:     flatten(base),
		w:     flatten(winner),
		l:     flatten(loser),
		r:     winner.Clone(),
		label: cleanLabel(conflictLabel),
		made:  make(map[string]bool),
	}
	m.removeFiles()
	m.removeDirs()
	m.add()
	m.attrs()
	return m.r, m.conflicts
}

// flat is a tree by path, with the paths in Walk order.
type flat struct {
	at    map[string]*Entry
	order []string
}

func flatten(t *Tree) *flat {
	n := count(t.Root)
	f := &flat{at: make(map[string]*Entry, n), order: make([]string, 0, n)}
	t.Walk(func(p string, e *Entry) error {
		f.at[p] = e
		f.order = append(f.order, p)
		return nil
	})
	return f
}

// count returns the number of entries from e down, e included.
func count(e *Entry) int {
	n := 1
	for _, c := range e.Children {
		n += count(c)
	}
	return n
}

// file returns the file at p, or nil.
func (f *flat) file(p string) *File {
	if e := f.at[p]; e != nil && !e.Dir {
		return &e.File
	}
	return nil
}

// dir returns the directory at p, or nil.
func (f *flat) dir(p string) *Entry {
	if e := f.at[p]; e != nil && e.Dir {
		return e
	}
	return nil
}

type refMerger struct {
	b, w, l   *flat
	r         *Tree
	label     string
	made      map[string]bool // conflict copies made so far
	conflicts []Conflict
}

func (m *refMerger) conflict(p, copyPath, kind string) {
	m.conflicts = append(m.conflicts, Conflict{Path: p, CopyPath: copyPath, Kind: kind})
}

// removeFiles removes from the result the base's files the loser removed
// (or replaced by a directory) and the winner left as they were.
func (m *refMerger) removeFiles() {
	for _, p := range m.b.order {
		bf := m.b.file(p)
		if bf == nil || m.l.file(p) != nil {
			continue
		}
		wf := m.w.file(p)
		switch {
		case wf == nil:
		case wf.Equal(*bf):
			m.remove(p)
		case m.l.at[p] == nil:
			m.conflict(p, "", ConflictModifiedDeleted)
		}
	}
}

// removeDirs removes, deepest first, the base's directories the loser
// removed (or replaced by a file) once nothing is left in them.
func (m *refMerger) removeDirs() {
	for i := len(m.b.order) - 1; i > 0; i-- {
		p := m.b.order[i]
		if m.b.dir(p) == nil || m.l.dir(p) != nil || m.w.dir(p) == nil {
			continue
		}
		e, _ := m.r.find(p)
		switch {
		case e == nil || !e.Dir:
		case len(e.Children) == 0:
			m.remove(p)
		case m.l.at[p] == nil && !m.reportedWithin(p):
			m.conflict(p, "", ConflictModifiedDeleted)
		}
	}
}

// reportedWithin reports whether a conflict was found at p or below it.
func (m *refMerger) reportedWithin(p string) bool {
	for _, c := range m.conflicts {
		if within(c.Path, p) {
			return true
		}
	}
	return false
}

// add applies the loser's additions and changes, parents first.
func (m *refMerger) add() {
	for _, p := range m.l.order[1:] {
		le, be := m.l.at[p], m.b.at[p]
		if be != nil && le.Dir == be.Dir && (le.Dir || le.File.Equal(be.File)) {
			continue // unchanged from the base (directory attributes: see attrs)
		}
		if le.Dir {
			m.ensureDir(p)
			continue
		}
		lf, bf := &le.File, m.b.file(p)
		re, _ := m.r.find(p)
		switch {
		case re == nil:
			m.put(p, *lf)
			if bf != nil && m.w.at[p] == nil {
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
func (m *refMerger) attrs() {
	for _, p := range m.l.order {
		ld := m.l.dir(p)
		if ld == nil {
			continue
		}
		rd, _ := m.r.find(p)
		if rd == nil || !rd.Dir {
			continue
		}
		wd := m.w.dir(p)
		if wd == nil {
			rd.Redundancy, rd.MTime = ld.Redundancy, ld.MTime
			continue
		}
		var base Entry
		if bd := m.b.dir(p); bd != nil {
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

// remove removes the entry at p from the result.
func (m *refMerger) remove(p string) {
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
func (m *refMerger) ensureDir(p string) *Entry {
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
func (m *refMerger) put(p string, f File) string {
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
func (m *refMerger) copyPath(p string, f *File) string {
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
		if !m.made[cp] && m.b.at[cp] == nil && m.w.at[cp] == nil && m.l.at[cp] == nil {
			m.made[cp] = true
			return cp
		}
	}
}
