// Package storage serves the Supabase Storage-compatible /storage/v1 API:
// buckets, objects, signed URLs and TUS resumable uploads.
//
// Object and bucket metadata live in the tenant's storage.buckets and
// storage.objects tables and every read or write of them runs in
// tenant.Manager.Tx under the caller's role and claims, so the project's own
// RLS policies decide, exactly as on Supabase. Bytes live in a blob.Store
// (internal/storage/file or internal/storage/s3) chosen per project by the
// "storage" settings section.
//
// Blob keys never contain user input: an object's bytes are stored under
// "objects/<v[0:2]>/<v>" (prefixed by "<ref>/" on S3), where v is a fresh
// version uuid written to storage.objects.version. No key is a prefix of
// another, renames touch no bytes, and a new version is written completely
// before the row points at it, so readers never see half an object.
//
// Errors are rendered by one renderer in Storage's dialect: HTTP 400 with the
// semantic status as a string in the body, except the cases Supabase answers
// with a real status (5xx, service-role gates, 416, unknown routes, TUS).
//
// Imports: the standard library, pgx, internal/{httpx,tenant,control,token,pg}
// and internal/storage/{blob,file,s3}; no other surface.
package storage
