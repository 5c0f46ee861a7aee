package storage

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"

	"github.com/minio/sio"
)

// KeySize is the size of a file key.
const KeySize = 32

// HKDF-SHA256 info strings; the file key is the input key material.
const (
	infoSegment  = "coop/v1 segment key "
	infoManifest = "coop/v1 manifest key"
)

func deriveKey(fileKey [KeySize]byte, info string) []byte {
	k, err := hkdf.Key(sha256.New, fileKey[:], nil, info, KeySize)
	if err != nil {
		panic("storage: hkdf: " + err.Error()) // only for impossible lengths
	}
	return k
}

// segmentKey is the key of segment i's DARE stream.
func segmentKey(fileKey [KeySize]byte, i int) []byte {
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], uint64(i))
	return deriveKey(fileKey, infoSegment+string(idx[:]))
}

// dareConfig pins DARE 2.0 with AES-256-GCM; the nonce is random per stream.
func dareConfig(key []byte) sio.Config {
	return sio.Config{
		MinVersion:   sio.Version20,
		MaxVersion:   sio.Version20,
		CipherSuites: []byte{sio.AES_256_GCM},
		Key:          key,
	}
}
