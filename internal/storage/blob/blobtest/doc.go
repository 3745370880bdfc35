// Package blobtest is the conformance suite every blob.Store backend must
// pass, so the storage surface can treat backends as interchangeable.
//
// Imports: the standard library and internal/storage/blob. Test code only.
package blobtest
