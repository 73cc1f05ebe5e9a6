package metrics

// ReconstructionMSE is the mean squared error per coordinate between the data x and
// its reconstruction rec (for DDIM inversion: encode x to x_T with the eta = 0
// update, decode back; Song et al. 2021, section 5.4):
//
//	recon_mse = 1/(n D) sum_i |rec_i - x_i|^2
//
// The Result is named "recon_mse" with N = n. It panics if the samples are empty or
// their shapes differ.
func ReconstructionMSE(rec, x [][]float64) Result {
	const fn = "ReconstructionMSE"
	d := checkNamedPair(fn, "rec", "x", rec, x, 1)
	if len(rec) != len(x) {
		panic("metrics: " + fn + ": rec and x have different numbers of points")
	}
	se := 0.0
	for i := range rec {
		for j, v := range rec[i] {
			e := v - x[i][j]
			se += e * e
		}
	}
	return Result{Name: "recon_mse", Value: se / float64(len(rec)*d), N: len(rec), Version: Version}
}

// LatentStd is the standard deviation (divisor n - 1) of all coordinates of the
// encoded latents z, pooled: 1 for a latent that looks like N(0, I). n is the
// number of latents, for the Result's N (named "latent_std"). It panics if z has
// fewer than 2 values.
func LatentStd(z []float64, n int) Result {
	if len(z) < 2 {
		panic("metrics: LatentStd: want at least 2 values")
	}
	_, std := meanStd(z)
	return Result{Name: "latent_std", Value: std, N: n, Version: Version}
}
