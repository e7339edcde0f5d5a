module github.com/wsio/wsio/conformance

go 1.25

require github.com/wsio/wsio v0.0.0

replace github.com/wsio/wsio => ../
