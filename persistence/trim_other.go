//go:build !linux

package persistence

import "errors"

func residentFileBytes() int64 { return 0 }

func pageOutTables(string) error { return errors.New("reclaiming mapped pages needs Linux") }
