//go:build !unix

package main

import "syscall"

// nodeProcAttr: no process groups here; nodes share cluster up's.
func nodeProcAttr() *syscall.SysProcAttr { return nil }
