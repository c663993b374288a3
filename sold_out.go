package kaquan

// soldOutMax bounds the sold-out templates the engine remembers (Engine.soldOut): those that
// answered a claim with ErrStockExhausted. A template's stock is fixed when it is created and its
// issued count only grows, so sold out is for good: a later claim is refused at once, with no user
// lookup and no message to the template. In a flash sale that is every claim after the last card,
// also after a restart, when no user's kind is in memory yet.
const soldOutMax = 1 << 16
