package kaquan_test

import (
	"testing"
)

// TestStats_CountAPayment: a payment moves every counter the way it works: entities activated and
// messaged, writes committed in batches, and no call left in flight once it answered.
func TestStats_CountAPayment(t *testing.T) {
	e := MustOpenEngine(t)
	w := mustWorld(t, e, 1, 10_000, 10)
	before := e.Stats()
	if _, err := tryPay(ctxTimeout(t), e, w, w.users[0], 3000, "k1"); err != nil {
		t.Fatal(err)
	}
	after := e.Stats()
	switch {
	case after.Deliveries <= before.Deliveries:
		t.Errorf("deliveries %d -> %d", before.Deliveries, after.Deliveries)
	case after.Writer.Batches <= before.Writer.Batches || after.Writer.Writes <= before.Writer.Writes:
		t.Errorf("writer %+v -> %+v", before.Writer, after.Writer)
	case after.Activations <= before.Activations: // the payment and its card are new entities
		t.Errorf("activations %d -> %d", before.Activations, after.Activations)
	case after.ActiveEntities == 0:
		t.Error("no entity in memory right after a payment")
	case after.CallsInFlight != 0:
		t.Errorf("%d calls in flight after the payment answered", after.CallsInFlight)
	}
}
