// Package s3 is the blob.Store over an S3-compatible bucket (AWS S3, R2,
// MinIO, versitygw, …), configured per project.
//
// Uploads stream: objects of unknown size or larger than one part go up as
// multipart uploads, so at most a part's worth of bytes is buffered, and a
// failed upload is aborted so nothing partial becomes visible. Copies are
// done server-side. S3's own PUT semantics give the atomic replacement the
// blob.Store contract asks for.
//
// Imports: the standard library, internal/storage/blob and minio-go.
package s3
