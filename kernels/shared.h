/*
 * shared.h - the constants both sides of the kernel interface depend on,
 * written once: buffer and tile sizes the host sizes launches and checks
 * by, and the codes it selects kernel code with (-DOP=..., -DKIND=...).
 * Every program is built from this file, common.h and the family's source
 * (runtime/program.c), and the host includes it (runtime/internal.h), so
 * the two cannot drift apart. Plain #defines only, read both as C and as
 * OpenCL C; every name starts with CLNN_, as it reaches every program.
 */
#ifndef CLNN_KERNELS_SHARED_H
#define CLNN_KERNELS_SHARED_H

/* The activation codes of -DACT: clnn_activation's values (include/clnn.h,
 * which kernels cannot include; runtime/status.c checks that they agree). */
#define CLNN_ACT_CODE_IDENTITY 0
#define CLNN_ACT_CODE_RELU 1
#define CLNN_ACT_CODE_LEAKY_RELU 2
#define CLNN_ACT_CODE_ELU 3
#define CLNN_ACT_CODE_SIGMOID 4
#define CLNN_ACT_CODE_TANH 5
#define CLNN_ACT_CODE_GELU 6
#define CLNN_ACT_CODE_GELU_TANH 7
#define CLNN_ACT_CODE_SILU 8
#define CLNN_ACT_CODE_HARDSWISH 9
#define CLNN_ACT_CODE_RELU6 10
/* The storage codes of -DDT: clnn_dtype's float values (kernels/common.h's
 * LOAD / STORE macros; runtime/status.c checks that they agree). */
#define CLNN_DTYPE_CODE_FLOAT32 0
#define CLNN_DTYPE_CODE_FLOAT16 2
#define CLNN_DTYPE_CODE_BFLOAT16 3
/* -DGATE of the gated activations: the activation on the first half of the
 * channels (y = ACT(a) * b) or on the second (y = a * ACT(b)). */
#define CLNN_ACT_GATE_FIRST 1
#define CLNN_ACT_GATE_SECOND 2

/* Work-items per work-group of the GPU-class memory-bound kernels: a
 * multiple of every vendor's SIMD width (32, 64) that leaves room for
 * several groups per compute unit (64 to 256 work-items). Kernels whose
 * work-group size the host passes (-DWG and the like) default to it when
 * a CPU-class program only compiles them. */
#define CLNN_GPU_WG 256

/* The register tile of the CPU-class GEMM-shaped kernels: MR rows by NR
 * columns (two float16 accumulators a row). kernels/gemm.cl's microkernel
 * computes one MR x NR tile of C, its B operand is packed in NR-wide
 * panels and A in MR-row panels; conv_packed_gemm, conv_1x1_gemm,
 * conv_bwdw_packed (kernels/conv/) and deform_conv_fwd_fused use the same
 * tile, and the host pads, packs and sizes its launches by it. The kernels
 * index panels with shifts and masks and hold NR columns as two float16:
 * they check these values at build time. */
#define CLNN_TILE_MR 8
#define CLNN_TILE_NR 32

/* linear_pack_panels (kernels/linear.cl): k values per work-item. */
#define CLNN_LINEAR_PACK_KB 16

/* conv_col2im (kernels/conv/col2im.cl): dx rows per work-item. */
#define CLNN_CONV_C2I_ROWS 8
/* The depthwise strip kernels (conv_dw_*): input rows prepared ahead of
 * use; the host sizes their private ring for them. */
#define CLNN_CONV_DWB_AHEAD 2

/* The pooling rows kernels' private row buffers, in floats (kernels/pool.cl;
 * ops/pool.c runs them only on rows that fit). */
#define CLNN_POOL_ROWBUF 2048
#define CLNN_POOL_OUTBUF 1024
/* 16-element vectors per work-item of the half global average backward. */
#define CLNN_POOL_GLOBAL_HALF_VECS 4

/* The optimizer list kernels (kernels/optim.cl): the roles of a call's
 * tensors (the updated tensor, the read-only input - a gradient, or the
 * EMA's parameter - up to three optimizer states, and the half-precision
 * model copy an optimizer writes from the new master weight), the buffer sets per
 * launch, and the cl_ulongs per row of the segment table the host writes
 * (four, then an offset per role). */
#define CLNN_OPTIM_ROLES 6
#define CLNN_OPTIM_ROLE_P 0
#define CLNN_OPTIM_ROLE_G 1
#define CLNN_OPTIM_ROLE_M 2
#define CLNN_OPTIM_ROLE_V 3
#define CLNN_OPTIM_ROLE_X 4
#define CLNN_OPTIM_ROLE_C 5
#define CLNN_OPTIM_SETS 8
#define CLNN_OPTIM_SEG_ROW (4 + CLNN_OPTIM_ROLES)
/* -DOPT: the kernels a program holds; -DDECAY: Adam's weight decay. */
#define CLNN_OPTIM_ADAM 1
#define CLNN_OPTIM_SGD 2
#define CLNN_OPTIM_EMA 3
#define CLNN_OPTIM_CLIP 4 /* the gradient-norm and finiteness checks */
#define CLNN_OPTIM_DECAY_NONE 0
#define CLNN_OPTIM_DECAY_L2 1        /* Adam: g += wd * p */
#define CLNN_OPTIM_DECAY_DECOUPLED 2 /* AdamW: p *= 1 - lr * wd */

/* The losses (kernels/loss.cl): positions per chunk of the CPU means,
 * values per work-item of a slice of the GPU means, the classification
 * kind (-DKIND) and what a GPU mean sums (-DMODE: the floats, or the
 * labels that are not ignore_index). */
#define CLNN_LOSS_CHUNK 4096
#define CLNN_LOSS_GPU_SLICE_ITEMS 16
#define CLNN_LOSS_XENT 0
#define CLNN_LOSS_SOFTACC 1
#define CLNN_LOSS_MEAN_SUM 0
#define CLNN_LOSS_MEAN_COUNT 1

/* Element-wise ops (kernels/eltwise.cl): elements per chunk of the CPU row
 * reduction, elements per work-item of a slice of the GPU one, and the op
 * codes of the CPU kernels (-DOP; a, b, c are inputs, y, z outputs) and of
 * the GPU kernel (-DGOP). */
#define CLNN_ELTWISE_CHUNK 4096
#define CLNN_ELTWISE_GPU_SLICE_ITEMS 16
#define CLNN_ELTWISE_OP_ADD 0          /* y = alpha a + beta b */
#define CLNN_ELTWISE_OP_SCALE 1        /* y = alpha a */
#define CLNN_ELTWISE_OP_ADD_BWD 2      /* y = alpha a, z = beta a (a = dy; HAS_Y / HAS_Z) */
#define CLNN_ELTWISE_OP_MUL_FULL 3     /* y = a b (s of x's shape) */
#define CLNN_ELTWISE_OP_MUL_ROW 4      /* y = a b[i / inner]; the vector kernel needs inner % 16 == 0 */
#define CLNN_ELTWISE_OP_MUL_BWD_FULL 5 /* y = a c (dx = dy s), z = a b (ds = dy x): a = dy, b = x, c = s */
#define CLNN_ELTWISE_GOP_ADD 0          /* y = alpha a + beta b */
#define CLNN_ELTWISE_GOP_SCALE 1        /* y = alpha a */
#define CLNN_ELTWISE_GOP_ADD_BWD 2      /* y = alpha a, z = beta a (HAS_Y / HAS_Z) */
#define CLNN_ELTWISE_GOP_MUL_FULL 3     /* y = a b (s of x's shape) */
#define CLNN_ELTWISE_GOP_MUL_BCAST 4    /* y = a b[e / inner] */
#define CLNN_ELTWISE_GOP_MUL_BWD_FULL 5 /* y = a c (dx = dy s), z = a b (ds = dy x): a = dy, b = x, c = s */
#define CLNN_ELTWISE_GOP_MUL_ADD 6      /* y = a b[e / inner] + beta c[e / inner] (x s + beta t) */

/* Batch norm's GPU statistics (kernels/norm.cl): values per work-item of a
 * level-one slice. */
#define CLNN_BN_GPU_ITEMS 16

/* The resize backward (kernels/resample.cl): dx columns per chunk of the
 * host's column tables (the fast kernels' float16 width). */
#define CLNN_RESIZE_BWD_CHUNK 16

/* The RoI GPU backward (kernels/roi.cl): channels per work-item. */
#define CLNN_ROI_GPU_LANES 4

/* The deformable convolution's GPU backward (kernels/deform_conv.cl): the
 * radix sort's digits per pass and keys per work-item, and the side of the
 * dy transpose's tile (its work-group is CLNN_DC_TILE wide). */
#define CLNN_DC_RADIX 16
#define CLNN_DC_RADIX_ITEMS 4
#define CLNN_DC_TILE 32

/* The modes of the GPU GEMM (kernels/gemm_gpu.h, -DGG_MODE): a plain GEMM,
 * or a convolution pass as an implicit GEMM. */
#define CLNN_GG_GEMM 0
#define CLNN_GG_CONV_FWD 1
#define CLNN_GG_CONV_BWD_DATA 2
#define CLNN_GG_CONV_BWD_WEIGHTS 3

#endif /* CLNN_KERNELS_SHARED_H */
