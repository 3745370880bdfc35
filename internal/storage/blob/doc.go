// Package blob defines the contract between the storage surface and the
// places object bytes live (a local directory, an S3-compatible bucket).
//
// A Store knows nothing about buckets, owners or policies: those live in the
// tenant's storage schema. It only moves bytes under a key, streaming both
// ways so an object is never held in memory whole.
//
// Keys are validated by ValidKey before any backend touches them, so every
// backend rejects the same traversal attempts with the same error.
//
// Imports: the standard library only.
package blob
