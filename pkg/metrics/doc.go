// Package metrics holds the sample-quality metrics that difflab experiments report:
// distances between a generated sample and a reference sample, computed in float64
// pure Go.
//
// Low-dimensional samples (the 2-D mixtures) are compared directly:
//
//	SlicedWasserstein   sliced Wasserstein distance SWD_p over random directions
//	MMD2                squared maximum mean discrepancy, Gaussian kernel, unbiased
//	EnergyDistance      energy distance of Székely and Rizzo, V-statistic
//	MeanLogLikelihood   mean log p(x) under a known gmm.Mixture
//	ModeWeights         fraction of samples per mixture component, and off-mode
//	ModeError           total-variation distance of those fractions to the weights
//
// DDIM inversion's reconstructions are compared with their data:
//
//	ReconstructionMSE   mean squared error per coordinate
//	LatentStd           standard deviation of the encoded x_T
//
// Images are compared through features computed elsewhere (one row per image):
//
//	FID, FrechetDistance   Fréchet distance between fitted Gaussians
//	KID                    kernel inception distance (cubic polynomial kernel)
//	PrecisionRecall        k-NN manifold precision and recall
//	ClassHistogram         share of each predicted class, SummarizeClasses
//
// and through a classifier's class probabilities (one row per image):
//
//	ClassifierScore        Inception Score, exp E KL(p(y|x) || p(y))
//	Confident              share of images whose top class has probability >= 0.9
//
// # The registry
//
// All lists what experiments know of each metric they report (Metric: its name,
// doc, Direction, Domain and Compute), in report order; Lookup finds one, Names
// lists those of some domains, and Evaluate computes several on one Input. The
// report, the runner, the CLI and the notebooks read directions and docs from it
// alone.
//
// # Conventions
//
// A sample of n points in D dimensions is a [][]float64 of n rows, each of length D.
// Inputs are never modified.
//
// Misuse panics with a message that names the function and the bad argument: an
// empty or too small sample, rows of different lengths, a config that fails its
// Validate. Numerical trouble (a failed eigendecomposition, a covariance that is not
// positive semidefinite) is returned as an error.
//
// Parameters come in config structs (SWDConfig, MMDConfig, KIDConfig) whose zero
// fields mean the documented default; the defaults live in exported constants and are
// applied in one place. Every randomised metric takes an explicit Seed, and the same
// inputs and Seed give the same value.
//
// Every scalar metric returns a Result that carries the value with the sample sizes,
// the seed, the resolved parameters and the implementation Version, ready to log.
//
// References:
//   - Gretton, Borgwardt, Rasch, Schölkopf, Smola (2012), A Kernel Two-Sample Test, JMLR 13.
//   - Bonneel, Rabin, Peyré, Pfister (2015), Sliced and Radon Wasserstein Barycenters of Measures.
//   - Székely, Rizzo (2013), Energy statistics: A class of statistics based on distances, JSPI 143.
//   - Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen (2016), Improved Techniques for
//     Training GANs, arXiv 1606.03498 (Inception Score).
//   - Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter (2017), GANs Trained by a Two
//     Time-Scale Update Rule Converge to a Local Nash Equilibrium, arXiv 1706.08500 (FID).
//   - Bińkowski, Sutherland, Arbel, Gretton (2018), Demystifying MMD GANs, arXiv 1801.01401 (KID).
//   - Kynkäänniemi, Karras, Laine, Lehtinen, Aila (2019), Improved Precision and Recall
//     Metric for Assessing Generative Models, arXiv 1904.06991.
//   - Song, Meng, Ermon (2021), Denoising Diffusion Implicit Models, arXiv 2010.02502 (Table 1).
package metrics
