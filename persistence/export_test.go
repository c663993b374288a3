package persistence

import "testing"

// mustNextSeq is the seq the store's next Writer gives its first commit log record.
func mustNextSeq(t *testing.T, s *Store) uint64 {
	t.Helper()
	next, err := s.nextSeq()
	if err != nil {
		t.Fatalf("next seq: %v", err)
	}
	return next
}
