"""Seeded masking for masked LMs (METHOD.md §6), independently of Scalpel."""

MASK64 = (1 << 64) - 1


class SplitMix64:
    """The generator Scalpel seeds its masking with (METHOD.md §6), reimplemented here."""
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def unit(self):
        return (self.next() >> 11) / float(1 << 53)


def corrupt(tokens, window, seed, mask_id, vocab, specials):
    g = SplitMix64((seed * 0x9E3779B97F4A7C15 + window) & MASK64)
    inp, positions, targets = list(tokens), [], []
    for i, t in enumerate(tokens):
        chosen = g.unit() < 0.15
        action = g.unit()
        rnd = g.next() % vocab
        if not chosen or t in specials:
            continue
        positions.append(i)
        targets.append(t)
        if action < 0.8:
            inp[i] = mask_id
        elif action < 0.9:
            inp[i] = rnd
    return inp, positions, targets
