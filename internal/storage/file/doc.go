// Package file is the blob.Store that keeps objects in a local directory
// (by default under MADBASE_DATA_DIR).
//
// All file system access goes through an os.Root opened on that directory,
// so no key, symlink or race can reach a file outside it; keys are also
// checked by blob.ValidKey first, so every backend refuses the same keys.
//
// Layout: a key's last segment names a file with the suffix ".b" and every
// other segment a directory with the suffix ".d". Because the two name sets
// never meet, a key can be both an object and a prefix of other objects,
// as on S3 ("a" is a.b, "a/b" is a.d/b.b). Each file holds the object's
// bytes followed by a small trailer (metadata JSON, its length, a magic
// number), so content and metadata are replaced together by one rename:
// a write goes to a temporary file in the same directory, is fsynced,
// renamed over the old object, and the directory is fsynced.
//
// Imports: the standard library and internal/storage/blob.
package file
