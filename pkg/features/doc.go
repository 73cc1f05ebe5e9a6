// Package features is difflab's feature extractor for image metrics: a small
// convolutional classifier for 28×28×1 images (MNIST, Fashion-MNIST) whose
// penultimate activations play the role that Inception-v3's pool features play in
// FID (Heusel et al. 2017) and KID (Bińkowski et al. 2018), and whose predictions
// give the class histogram of generated samples.
//
// FID, KID, precision and recall are comparable only between numbers computed with
// the same extractor. Every Classifier therefore has a Hash of its weights, and
// EvalImages stores it in each metrics.Result's Params under "extractor".
//
// In five lines:
//
//	b, _ := backend.New()
//	cls, _ := features.LoadOrTrain(b, "mnist", "", features.ClassifierConfig{})
//	res, classes, _ := features.EvalImages(cls, generated, real, n, 1)
//	fmt.Println(res["fid"], cls.Hash(), classes.Hist)
//
// The network (see ClassifierConfig for the sizes):
//
//	x [B, 28, 28, 1] -> conv3x3(32) -> ReLU -> avgpool2x2 -> conv3x3(64) -> ReLU -> avgpool2x2
//	  -> flatten [B, 7*7*64] -> Dense(128) -> ReLU = features -> Dense(10) = logits
//
// The convolutions are models.Conv2D (im2col, ~20× faster than the native
// convolution on the pure-Go backend) and the pooling is models.Downsample with
// models.DownsampleAvgPool (reshape + ReduceMean). ReLU rather than SiLU: see
// modelGraph.
package features
