package wsio

import "io"

// readFromInto is BinaryWriter.ReadFrom's loop in both builds: it reads r
// into buf and hands each piece read to w until r returns io.EOF (a nil
// error) or another error, which it returns. A write error ends it at
// once; the bytes of the piece that failed are not counted in the total.
func readFromInto(w io.Writer, r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
