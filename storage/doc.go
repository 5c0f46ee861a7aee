// Package storage turns files into encrypted, erasure-coded, content-addressed
// pieces and back: segmenting, DARE encryption, Reed–Solomon coding, manifests,
// capabilities and the on-disk block store.
package storage
