package limits

import (
	"errors"
	"testing"
)

func TestBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cap     int64
		takes   []int64
		wantErr []bool
		used    int64
	}{
		{"exact fit", 10, []int64{4, 6}, []bool{false, false}, 10},
		{"one over", 10, []int64{4, 7}, []bool{false, true}, 4},
		{"single huge", 10, []int64{1 << 62}, []bool{true}, 0},
		{"overflow guard", 1 << 62, []int64{1 << 62, 1 << 62}, []bool{false, true}, 1 << 62},
		{"negative length", 10, []int64{-1}, []bool{true}, 0},
		{"no cap", -1, []int64{1 << 40, 1 << 40}, []bool{false, false}, 2 << 40},
		{"zero cap", 0, []int64{0, 1}, []bool{false, true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := Budget{Cap: tt.cap}
			for i, n := range tt.takes {
				err := b.Take(n)
				if (err != nil) != tt.wantErr[i] {
					t.Fatalf("Take(%d) #%d: err = %v, want error %v", n, i, err, tt.wantErr[i])
				}
				if err != nil && !errors.Is(err, ErrTooBig) {
					t.Fatalf("Take(%d): %v does not wrap ErrTooBig", n, err)
				}
			}
			if b.Used != tt.used {
				t.Fatalf("Used = %d, want %d", b.Used, tt.used)
			}
			b.Reset()
			if b.Used != 0 || b.Cap != tt.cap {
				t.Fatalf("after Reset: %+v", b)
			}
		})
	}
}

func TestRoom(t *testing.T) {
	t.Parallel()
	b := Budget{Cap: 10}
	_ = b.Take(3)
	if got := b.Room(); got != 7 {
		t.Fatalf("Room = %d, want 7", got)
	}
	if got := (&Budget{Cap: -1}).Room(); got != -1 {
		t.Fatalf("Room without cap = %d, want -1", got)
	}
}
