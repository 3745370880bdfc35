// Package smtpsink is an in-process SMTP server for tests: it accepts mail
// on 127.0.0.1, keeps every message in memory, and lets a test wait for the
// message sent to an address and pull the link or one-time code out of it.
//
// It speaks enough ESMTP for real clients (EHLO/HELO, optional STARTTLS
// with a certificate generated at start, AUTH PLAIN, MAIL, RCPT, DATA with
// dot-unstuffing, RSET, NOOP, QUIT). It is test-only: it may import the
// standard library and testing, and nothing from MadBase.
package smtpsink
