// Package admin serves /admin/v1: the JSON API operators and the management
// UI use to create and manage projects, keys, settings and secrets. Requests
// carry `Authorization: Bearer $MADBASE_ADMIN_TOKEN`, compared in constant
// time. Surfaces that have admin endpoints of their own (function deploys)
// mount them through Handle so they share the same guard and error dialect.
//
// It sits above the surfaces and may import any internal package but server.
package admin
