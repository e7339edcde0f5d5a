package handshake

import "testing"

// BenchmarkParseResponseHead parses a typical 101 answer, as Dial does.
func BenchmarkParseResponseHead(b *testing.B) {
	head := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parseResponseHead(head); err != nil {
			b.Fatal(err)
		}
	}
}
