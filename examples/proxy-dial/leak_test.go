package main

import (
	"testing"

	"github.com/wsio/wsio/internal/wstest"
)

func TestMain(m *testing.M) { wstest.Main(m) }
