;; Memory-bound channel work of a training step, WebAssembly SIMD (f32x4), in place on the wasm backend's heap:
;; copying channel ranges between NHWC tensors (Concat and its gradient SplitV along channels), the gradient of
;; 2×2 stride-2 max pooling, and a full tensor combined with a per-channel vector (multiply, add, subtract).
;; Channel counts that are not a multiple of 4 are covered by one more 4-wide step that ends at the last channel
;; (it rewrites a few channels with the same values); fewer than 4 channels are copied one by one, or left to the
;; caller (pooling, per-channel arithmetic).
(module
  (import "env" "memory" (memory 1)) ;; MEMORY: the build writes the shared variant for the threaded backend

  ;; dst[p·dstStride + c] = src[p·srcStride + c] for p < pixels, c < C (strides and C in floats; addresses in bytes)
  (func (export "copyChannels")
        (param $dst i32) (param $dstStride i32) (param $src i32) (param $srcStride i32) (param $pixels i32) (param $C i32)
    (local $d i32) (local $s i32) (local $off i32) (local $last i32) (local $ds i32) (local $ss i32)
    (local.set $ds (i32.shl (local.get $dstStride) (i32.const 2)))
    (local.set $ss (i32.shl (local.get $srcStride) (i32.const 2)))
    (local.set $last (i32.shl (i32.sub (local.get $C) (i32.const 4)) (i32.const 2)))
    (block $done
      (loop $px
        (br_if $done (i32.eqz (local.get $pixels)))
        (if (i32.ge_u (local.get $C) (i32.const 4))
          (then
            (local.set $off (i32.const 0))
            (block $chunksDone
              (loop $chunks
                (br_if $chunksDone (i32.gt_s (local.get $off) (local.get $last)))
                (v128.store (i32.add (local.get $dst) (local.get $off)) (v128.load (i32.add (local.get $src) (local.get $off))))
                (local.set $off (i32.add (local.get $off) (i32.const 16)))
                (br $chunks)))
            (if (i32.and (local.get $C) (i32.const 3))
              (then (v128.store (i32.add (local.get $dst) (local.get $last)) (v128.load (i32.add (local.get $src) (local.get $last)))))))
          (else
            (local.set $off (i32.const 0))
            (block $oneDone
              (loop $one
                (br_if $oneDone (i32.ge_u (local.get $off) (i32.shl (local.get $C) (i32.const 2))))
                (f32.store (i32.add (local.get $dst) (local.get $off)) (f32.load (i32.add (local.get $src) (local.get $off))))
                (local.set $off (i32.add (local.get $off) (i32.const 4)))
                (br $one)))))
        (local.set $dst (i32.add (local.get $dst) (local.get $ds)))
        (local.set $src (i32.add (local.get $src) (local.get $ss)))
        (local.set $pixels (i32.sub (local.get $pixels) (i32.const 1)))
        (br $px))))

  ;; Gradient of 2×2 stride-2 'valid' max pooling, C ≥ 4: each window's dy goes to its first maximal element in
  ;; row-major order (strictly greater wins, NaN never does), as on TF.js's cpu backend. Writes every element of
  ;; the windows; rows/columns past the last window (odd H or W) are the caller's to zero.
  (func (export "maxPool2x2Grad")
        (param $x i32) (param $dy i32) (param $dx i32) (param $N i32) (param $H i32) (param $W i32) (param $C i32)
    (local $oh i32) (local $ow i32) (local $n i32) (local $i i32) (local $j i32) (local $off i32) (local $last i32)
    (local $p00 i32) (local $p01 i32) (local $p10 i32) (local $p11 i32) (local $g i32) (local $row i32) (local $px i32)
    (local.set $oh (i32.shr_u (local.get $H) (i32.const 1)))
    (local.set $ow (i32.shr_u (local.get $W) (i32.const 1)))
    (local.set $row (i32.shl (i32.mul (local.get $W) (local.get $C)) (i32.const 2)))
    (local.set $px (i32.shl (local.get $C) (i32.const 2)))
    (local.set $last (i32.shl (i32.sub (local.get $C) (i32.const 4)) (i32.const 2)))
    (local.set $g (local.get $dy))
    (local.set $n (i32.const 0))
    (block $nDone (loop $nLoop
      (br_if $nDone (i32.ge_u (local.get $n) (local.get $N)))
      (local.set $i (i32.const 0))
      (block $iDone (loop $iLoop
        (br_if $iDone (i32.ge_u (local.get $i) (local.get $oh)))
        (local.set $j (i32.const 0))
        (block $jDone (loop $jLoop
          (br_if $jDone (i32.ge_u (local.get $j) (local.get $ow)))
          ;; byte offset of the window's top-left element from the tensor start
          (local.set $p00 (i32.shl (i32.mul
            (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (i32.shl (local.get $i) (i32.const 1))) (local.get $W))
                     (i32.shl (local.get $j) (i32.const 1)))
            (local.get $C)) (i32.const 2)))
          (local.set $p01 (i32.add (local.get $p00) (local.get $px)))
          (local.set $p10 (i32.add (local.get $p00) (local.get $row)))
          (local.set $p11 (i32.add (local.get $p10) (local.get $px)))
          (local.set $off (i32.const 0))
          (block $cDone (loop $cLoop
            (br_if $cDone (i32.gt_s (local.get $off) (local.get $last)))
            (call $window (local.get $x) (local.get $dx) (local.get $g) (local.get $off)
              (local.get $p00) (local.get $p01) (local.get $p10) (local.get $p11))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $cLoop)))
          (if (i32.and (local.get $C) (i32.const 3))
            (then (call $window (local.get $x) (local.get $dx) (local.get $g) (local.get $last)
              (local.get $p00) (local.get $p01) (local.get $p10) (local.get $p11))))
          (local.set $g (i32.add (local.get $g) (local.get $px)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jLoop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iLoop)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nLoop))))

  ;; Four channels of one window: the running maximum and the (1-based) position that holds it, then dy masked
  ;; into each position.
  (func $window (param $x i32) (param $dx i32) (param $g i32) (param $off i32)
                (param $p00 i32) (param $p01 i32) (param $p10 i32) (param $p11 i32)
    (local $best v128) (local $idx v128) (local $v v128) (local $gt v128) (local $d v128)
    (local.set $best (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $idx (v128.const i32x4 0 0 0 0))
    (local.set $v (v128.load (i32.add (i32.add (local.get $x) (local.get $p00)) (local.get $off))))
    (local.set $gt (f32x4.gt (local.get $v) (local.get $best)))
    (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $gt)))
    (local.set $idx (v128.bitselect (v128.const i32x4 1 1 1 1) (local.get $idx) (local.get $gt)))
    (local.set $v (v128.load (i32.add (i32.add (local.get $x) (local.get $p01)) (local.get $off))))
    (local.set $gt (f32x4.gt (local.get $v) (local.get $best)))
    (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $gt)))
    (local.set $idx (v128.bitselect (v128.const i32x4 2 2 2 2) (local.get $idx) (local.get $gt)))
    (local.set $v (v128.load (i32.add (i32.add (local.get $x) (local.get $p10)) (local.get $off))))
    (local.set $gt (f32x4.gt (local.get $v) (local.get $best)))
    (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $gt)))
    (local.set $idx (v128.bitselect (v128.const i32x4 3 3 3 3) (local.get $idx) (local.get $gt)))
    (local.set $v (v128.load (i32.add (i32.add (local.get $x) (local.get $p11)) (local.get $off))))
    (local.set $gt (f32x4.gt (local.get $v) (local.get $best)))
    (local.set $idx (v128.bitselect (v128.const i32x4 4 4 4 4) (local.get $idx) (local.get $gt)))
    (local.set $d (v128.load (i32.add (local.get $g) (local.get $off))))
    (v128.store (i32.add (i32.add (local.get $dx) (local.get $p00)) (local.get $off))
      (v128.and (local.get $d) (i32x4.eq (local.get $idx) (v128.const i32x4 1 1 1 1))))
    (v128.store (i32.add (i32.add (local.get $dx) (local.get $p01)) (local.get $off))
      (v128.and (local.get $d) (i32x4.eq (local.get $idx) (v128.const i32x4 2 2 2 2))))
    (v128.store (i32.add (i32.add (local.get $dx) (local.get $p10)) (local.get $off))
      (v128.and (local.get $d) (i32x4.eq (local.get $idx) (v128.const i32x4 3 3 3 3))))
    (v128.store (i32.add (i32.add (local.get $dx) (local.get $p11)) (local.get $off))
      (v128.and (local.get $d) (i32x4.eq (local.get $idx) (v128.const i32x4 4 4 4 4)))))

  ;; out[p, c] = a[p, c] · v[c] for pixels p < n and channels c < C ≥ 4: the per-channel broadcast of BatchNormalization's
  ;; forward and gradient arithmetic (v: C floats).
  (func (export "mulChannels") (param $a i32) (param $v i32) (param $out i32) (param $n i32) (param $C i32)
    (local $off i32) (local $last i32) (local $row i32)
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $last (i32.sub (local.get $row) (i32.const 16)))
    (block $done
      (loop $px
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $off (i32.const 0))
        (block $chunksDone
          (loop $chunks
            (br_if $chunksDone (i32.gt_s (local.get $off) (local.get $last)))
            (v128.store (i32.add (local.get $out) (local.get $off))
              (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $off))) (v128.load (i32.add (local.get $v) (local.get $off)))))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $chunks)))
        (if (i32.and (local.get $C) (i32.const 3))
          (then (local.set $off (local.get $last))
                (v128.store (i32.add (local.get $out) (local.get $off)) (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $off))) (v128.load (i32.add (local.get $v) (local.get $off)))))))
        (local.set $a (i32.add (local.get $a) (local.get $row)))
        (local.set $out (i32.add (local.get $out) (local.get $row)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $px))))

  ;; out[p, c] = a[p, c] + v[c] for pixels p < n and channels c < C ≥ 4: the per-channel broadcast of BatchNormalization's
  ;; forward and gradient arithmetic (v: C floats).
  (func (export "addChannels") (param $a i32) (param $v i32) (param $out i32) (param $n i32) (param $C i32)
    (local $off i32) (local $last i32) (local $row i32)
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $last (i32.sub (local.get $row) (i32.const 16)))
    (block $done
      (loop $px
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $off (i32.const 0))
        (block $chunksDone
          (loop $chunks
            (br_if $chunksDone (i32.gt_s (local.get $off) (local.get $last)))
            (v128.store (i32.add (local.get $out) (local.get $off))
              (f32x4.add (v128.load (i32.add (local.get $a) (local.get $off))) (v128.load (i32.add (local.get $v) (local.get $off)))))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $chunks)))
        (if (i32.and (local.get $C) (i32.const 3))
          (then (local.set $off (local.get $last))
                (v128.store (i32.add (local.get $out) (local.get $off)) (f32x4.add (v128.load (i32.add (local.get $a) (local.get $off))) (v128.load (i32.add (local.get $v) (local.get $off)))))))
        (local.set $a (i32.add (local.get $a) (local.get $row)))
        (local.set $out (i32.add (local.get $out) (local.get $row)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $px))))

  ;; out[p, c] = a[p, c] − v[c] for pixels p < n and channels c < C ≥ 4: the per-channel broadcast of BatchNormalization's
  ;; forward and gradient arithmetic (v: C floats).
  (func (export "subChannels") (param $a i32) (param $v i32) (param $out i32) (param $n i32) (param $C i32)
    (local $off i32) (local $last i32) (local $row i32)
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $last (i32.sub (local.get $row) (i32.const 16)))
    (block $done
      (loop $px
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $off (i32.const 0))
        (block $chunksDone
          (loop $chunks
            (br_if $chunksDone (i32.gt_s (local.get $off) (local.get $last)))
            (v128.store (i32.add (local.get $out) (local.get $off))
              (f32x4.sub (v128.load (i32.add (local.get $a) (local.get $off))) (v128.load (i32.add (local.get $v) (local.get $off)))))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $chunks)))
        (if (i32.and (local.get $C) (i32.const 3))
          (then (local.set $off (local.get $last))
                (v128.store (i32.add (local.get $out) (local.get $off)) (f32x4.sub (v128.load (i32.add (local.get $a) (local.get $off))) (v128.load (i32.add (local.get $v) (local.get $off)))))))
        (local.set $a (i32.add (local.get $a) (local.get $row)))
        (local.set $out (i32.add (local.get $out) (local.get $row)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $px))))

  ;; out[p, c] = v[c] − a[p, c] for pixels p < n and channels c < C ≥ 4: the per-channel broadcast of BatchNormalization's
  ;; forward and gradient arithmetic (v: C floats).
  (func (export "rsubChannels") (param $a i32) (param $v i32) (param $out i32) (param $n i32) (param $C i32)
    (local $off i32) (local $last i32) (local $row i32)
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $last (i32.sub (local.get $row) (i32.const 16)))
    (block $done
      (loop $px
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $off (i32.const 0))
        (block $chunksDone
          (loop $chunks
            (br_if $chunksDone (i32.gt_s (local.get $off) (local.get $last)))
            (v128.store (i32.add (local.get $out) (local.get $off))
              (f32x4.sub (v128.load (i32.add (local.get $v) (local.get $off))) (v128.load (i32.add (local.get $a) (local.get $off)))))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $chunks)))
        (if (i32.and (local.get $C) (i32.const 3))
          (then (local.set $off (local.get $last))
                (v128.store (i32.add (local.get $out) (local.get $off)) (f32x4.sub (v128.load (i32.add (local.get $v) (local.get $off))) (v128.load (i32.add (local.get $a) (local.get $off)))))))
        (local.set $a (i32.add (local.get $a) (local.get $row)))
        (local.set $out (i32.add (local.get $out) (local.get $row)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $px))))
)
