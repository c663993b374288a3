package persistence

import (
	badger "github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"
)

// Snapshot is a consistent, read-only view of the store at one commit boundary. Since the writer
// commits in submission order, a snapshot holds a causally complete prefix of all writes.
type Snapshot struct{ txn *badger.Txn }

// View runs fn on a snapshot.
func (s *Store) View(fn func(*Snapshot) error) error {
	return s.view(func(txn *badger.Txn) error { return fn(&Snapshot{txn: txn}) })
}

// Scan calls fn for each key with prefix in order until fn returns false or an error. key and
// value are only valid during the call.
func (s *Snapshot) Scan(prefix []byte, fn func(key, value []byte) (bool, error)) error {
	return s.ScanFrom(prefix, prefix, fn)
}

// Has reports whether key exists in the snapshot.
func (s *Snapshot) Has(key []byte) (bool, error) {
	_, err := s.txn.Get(key)
	if err == badger.ErrKeyNotFound {
		return false, nil
	}
	return err == nil, err
}

// ScanFrom is Scan starting at key start (at or after prefix).
func (s *Snapshot) ScanFrom(prefix, start []byte, fn func(key, value []byte) (bool, error)) error {
	opt := badger.DefaultIteratorOptions
	opt.Prefix = prefix
	opt.PrefetchValues = false
	it := s.txn.NewIterator(opt)
	defer it.Close()
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		var more bool
		err := it.Item().Value(func(v []byte) error {
			var err error
			more, err = fn(it.Item().Key(), v)
			return err
		})
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Get returns a copy of the value of key, or ErrNotFound.
func (s *Snapshot) Get(key []byte) ([]byte, error) {
	item, err := s.txn.Get(key)
	if err == badger.ErrKeyNotFound {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// GetProto reads key into m, or returns ErrNotFound.
func (s *Snapshot) GetProto(key []byte, m proto.Message) error {
	v, err := s.Get(key)
	if err != nil {
		return err
	}
	return proto.Unmarshal(v, m)
}
