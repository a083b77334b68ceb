package api

import "testing"

// TestOneBackupAtATime: a second backup is refused while one holds the
// slot, and allowed once it is released.
func TestOneBackupAtATime(t *testing.T) {
	s := New(nil, nil, nil)
	if !s.backupSlot() {
		t.Fatal("the first backup was refused")
	}
	if s.backupSlot() {
		t.Fatal("a second backup ran beside the first")
	}
	<-s.backups
	if !s.backupSlot() {
		t.Fatal("the slot was not released")
	}
}
