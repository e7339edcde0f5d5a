// Package wstest is the test kit shared by the tests of the wsio module
// (the root package's internal and external tests, its subpackages and
// examples) and of the conformance module: the goroutine-leak check of
// every TestMain, bounded waits, a locked buffer, an echo handler and test
// servers, dialers that record what they are asked for, raw handshakes and
// frames written by hand, payload makers and a self-signed certificate.
//
// It does not import the root package github.com/wsio/wsio, nor any
// package of the library: the root's internal tests (package wsio) import
// it, which an import of the root would make a cycle, and the hand-written
// wire code stays independent of the codec under test. What it needs of a
// connection it takes through small interfaces and func parameters (see
// Echo).
//
// Every wait is bounded (by Timeout unless a duration is given), and every
// server and listener it starts for a test is stopped by the test's
// cleanup, which waits for the goroutines serving it, so a failing test
// neither hangs nor leaks goroutines into the leak check.
package wstest
