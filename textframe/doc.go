// Package textframe handles the text messages of a WebSocket connection
// (RFC 6455): it checks their UTF-8 as the bytes arrive and assembles each
// message into one Go string under a byte cap.
//
// The package knows nothing of sockets or frames. The connection layer reads
// payload bytes and pushes them in:
//
//   - A [Validator] checks UTF-8 incrementally. The bytes may be split
//     anywhere (inside a character, across frames), and it fails fast: it
//     reports the error on the first byte after which no continuation could
//     make the text valid, so the connection can close with status 1007
//     (Invalid Frame Payload Data) without reading the rest of the message.
//   - An [Assembler] builds a whole text message. For every frame the caller
//     declares the payload length with [Assembler.Reserve] before reading it,
//     so a message over the cap is refused up front (the error wraps
//     [limits.ErrTooBig]; close with 1009, Message Too Big). It then reads the
//     payload straight into the slices [Assembler.Next] returns and hands the
//     filled bytes over with [Assembler.Commit], which validates them.
//     [Assembler.Finish] returns the message as a string.
//
// Errors that mean the text is not UTF-8 wrap [ErrInvalidUTF8].
//
// [ValidString] checks outgoing text with the same fast routine.
//
// Programs that use WebSockets import wsio, never this package: wsio's
// connection uses it for every text message. It is public for code that
// validates or assembles text from another frame source (a proxy, a
// WebSocket-over-something transport) and wants the same fail-fast rules.
package textframe
