// Package suite is a raw-frame WebSocket (RFC 6455) conformance test engine
// with a catalogue of cases modelled on the Autobahn testsuite.
//
// The engine does not use any WebSocket library: it performs the opening
// handshake itself, writes frames byte by byte (optionally chopped into small
// TCP writes, with wrong masking, reserved bits or reserved opcodes) and reads
// the peer's frames. It always plays Autobahn's "fuzzing" side: as a client
// (RunClient) it tests a server, and as a server (FuzzServer, which speaks
// Autobahn's fuzzingserver URL protocol) it tests a client.
//
// Each Case carries Autobahn's id, description and expectation, a script of
// Steps, and the expected events and close behaviour. Judge compares what was
// observed with the expectation and gives an Outcome with Autobahn's meaning:
// OK, NON-STRICT, FAILED, UNIMPLEMENTED or INFORMATIONAL. The W.* cases are
// the suite's own additions and are not part of Autobahn.
package suite
