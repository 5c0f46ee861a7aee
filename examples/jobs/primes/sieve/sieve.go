// Package sieve is the kernel of the primes example job, shared with the
// native baseline of the compute benchmarks.
package sieve

// Count returns the number of primes ≤ n and the largest of them (0 if none),
// with a sieve of Eratosthenes over odd numbers.
func Count(n int) (count, largest int) {
	if n < 2 {
		return 0, 0
	}
	count, largest = 1, 2
	// composite[i] reports whether 2i+3 is composite.
	size := (n - 1) / 2
	composite := make([]bool, size)
	for i := 0; i < size; i++ {
		if composite[i] {
			continue
		}
		p := 2*i + 3
		count++
		largest = p
		for j := (p*p - 3) / 2; j < size; j += p {
			composite[j] = true
		}
	}
	return count, largest
}
