// Package control is the control plane: projects, their keys, settings and
// secrets, stored in the control database (schema "control") with every
// secret encrypted at rest by internal/secret. It owns its migrations and
// tells other nodes about changes with NOTIFY.
//
// It may import config, migrate, pg, secret and token; no surface.
package control
