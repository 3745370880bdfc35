// Package secret encrypts values at rest with AES-256-GCM under the
// process's MADBASE_ENCRYPTION_KEY. Control-plane columns that hold database
// URLs, JWT secrets and function secrets go through it. Standard library only.
package secret
