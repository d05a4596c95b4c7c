;; BatchNormalization in training, WebAssembly SIMD (f32x4), in place on the wasm backend's heap: the per-channel
;; reductions of the forward statistics and of the gradient, and the one full-size pass that makes the input
;; gradient. tf.moments and the autodiff of its ops took about ten full-size passes per layer; these take four
;; (two read-only reductions forward, one reduction and one write backward).
;;
;; Tensors are [pixels, C] float32 (NHWC with N·H·W pixels). Reductions walk the pixels in blocks of ~16 KB that
;; stay in L1 while each group of 4 channels sweeps them, sum each block in f32 registers and add the block's sum
;; into float64 outputs (one f64 per channel, C values): the error grows with the block, not with N·H·W. Channels
;; past the last multiple of 4 take a scalar loop. Per-channel vectors (mean, factors) are float32, C values.
(module
  (import "env" "memory" (memory 1)) ;; MEMORY: the build writes the shared variant for the threaded backend

  ;; Pixels per block: ~16 KB of one tensor.
  (func $block (param $C i32) (result i32)
    (local $n i32)
    (local.set $n (i32.div_u (i32.const 4096) (local.get $C)))
    (select (local.get $n) (i32.const 1) (local.get $n)))

  ;; out[0..1] (f64) += the four f32 lanes of acc, widened.
  (func $flush4 (param $o i32) (param $acc v128)
    (v128.store (local.get $o)
      (f64x2.add (v128.load (local.get $o)) (f64x2.promote_low_f32x4 (local.get $acc))))
    (v128.store offset=16 (local.get $o)
      (f64x2.add (v128.load offset=16 (local.get $o))
        (f64x2.promote_low_f32x4
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $acc) (local.get $acc))))))

  ;; sum[c] += Σ_p x[p, c]                         when $m = -1
  ;; sum[c] += Σ_p (x[p, c] − m[c])²               otherwise ($m: the mean's address)
  (func (export "channelMoment") (param $x i32) (param $m i32) (param $pixels i32) (param $C i32) (param $sum i32)
    (local $row i32) (local $blk i32) (local $n i32) (local $g i32) (local $groups i32) (local $p i32) (local $k i32)
    (local $acc v128) (local $v v128) (local $mv v128) (local $s f32) (local $f f32) (local $mf f32) (local $c i32)
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $blk (call $block (local.get $C)))
    (local.set $groups (i32.shr_u (local.get $C) (i32.const 2)))
    (block $done
      (loop $blocks
        (br_if $done (i32.eqz (local.get $pixels)))
        (local.set $n (select (local.get $blk) (local.get $pixels) (i32.lt_u (local.get $blk) (local.get $pixels))))
        ;; full groups of 4 channels
        (local.set $g (i32.const 0))
        (block $gDone
          (loop $gLoop
            (br_if $gDone (i32.ge_u (local.get $g) (local.get $groups)))
            (local.set $acc (v128.const f32x4 0 0 0 0))
            (local.set $p (i32.add (local.get $x) (i32.shl (local.get $g) (i32.const 4))))
            (local.set $k (local.get $n))
            (if (i32.eq (local.get $m) (i32.const -1))
              (then
                (loop $px
                  (local.set $acc (f32x4.add (local.get $acc) (v128.load (local.get $p))))
                  (local.set $p (i32.add (local.get $p) (local.get $row)))
                  (br_if $px (local.tee $k (i32.sub (local.get $k) (i32.const 1))))))
              (else
                (local.set $mv (v128.load (i32.add (local.get $m) (i32.shl (local.get $g) (i32.const 4)))))
                (loop $pxDev
                  (local.set $v (f32x4.sub (v128.load (local.get $p)) (local.get $mv)))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $v) (local.get $v))))
                  (local.set $p (i32.add (local.get $p) (local.get $row)))
                  (br_if $pxDev (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))))
            (call $flush4 (i32.add (local.get $sum) (i32.shl (local.get $g) (i32.const 5))) (local.get $acc))
            (local.set $g (i32.add (local.get $g) (i32.const 1)))
            (br $gLoop)))
        ;; the last C mod 4 channels, one at a time
        (local.set $c (i32.shl (local.get $groups) (i32.const 2)))
        (block $tDone
          (loop $tLoop
            (br_if $tDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $s (f32.const 0))
            (local.set $mf (if (result f32) (i32.eq (local.get $m) (i32.const -1))
              (then (f32.const 0))
              (else (f32.load (i32.add (local.get $m) (i32.shl (local.get $c) (i32.const 2)))))))
            (local.set $p (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))
            (local.set $k (local.get $n))
            (loop $tpx
              (local.set $f (f32.sub (f32.load (local.get $p)) (local.get $mf)))
              (local.set $s (f32.add (local.get $s)
                (if (result f32) (i32.eq (local.get $m) (i32.const -1))
                  (then (local.get $f))
                  (else (f32.mul (local.get $f) (local.get $f))))))
              (local.set $p (i32.add (local.get $p) (local.get $row)))
              (br_if $tpx (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
            (f64.store (i32.add (local.get $sum) (i32.shl (local.get $c) (i32.const 3)))
              (f64.add (f64.load (i32.add (local.get $sum) (i32.shl (local.get $c) (i32.const 3)))) (f64.promote_f32 (local.get $s))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tLoop)))
        (local.set $x (i32.add (local.get $x) (i32.mul (local.get $n) (local.get $row))))
        (local.set $pixels (i32.sub (local.get $pixels) (local.get $n)))
        (br $blocks))))

  ;; s1[c] += Σ_p dy[p, c],   s2[c] += Σ_p dy[p, c]·(x[p, c] − m[c])      (the gradient's two reductions)
  (func (export "channelGradSums")
        (param $dy i32) (param $x i32) (param $m i32) (param $pixels i32) (param $C i32) (param $s1 i32) (param $s2 i32)
    (local $row i32) (local $blk i32) (local $n i32) (local $g i32) (local $groups i32) (local $o i32) (local $k i32)
    (local $a1 v128) (local $a2 v128) (local $d v128) (local $mv v128)
    (local $f1 f32) (local $f2 f32) (local $df f32) (local $mf f32) (local $c i32)
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $blk (i32.shr_u (call $block (local.get $C)) (i32.const 1)))
    (if (i32.eqz (local.get $blk)) (then (local.set $blk (i32.const 1))))
    (local.set $groups (i32.shr_u (local.get $C) (i32.const 2)))
    (block $done
      (loop $blocks
        (br_if $done (i32.eqz (local.get $pixels)))
        (local.set $n (select (local.get $blk) (local.get $pixels) (i32.lt_u (local.get $blk) (local.get $pixels))))
        (local.set $g (i32.const 0))
        (block $gDone
          (loop $gLoop
            (br_if $gDone (i32.ge_u (local.get $g) (local.get $groups)))
            (local.set $a1 (v128.const f32x4 0 0 0 0))
            (local.set $a2 (v128.const f32x4 0 0 0 0))
            (local.set $mv (v128.load (i32.add (local.get $m) (i32.shl (local.get $g) (i32.const 4)))))
            (local.set $o (i32.shl (local.get $g) (i32.const 4)))
            (local.set $k (local.get $n))
            (loop $px
              (local.set $d (v128.load (i32.add (local.get $dy) (local.get $o))))
              (local.set $a1 (f32x4.add (local.get $a1) (local.get $d)))
              (local.set $a2 (f32x4.add (local.get $a2)
                (f32x4.mul (local.get $d) (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $o))) (local.get $mv)))))
              (local.set $o (i32.add (local.get $o) (local.get $row)))
              (br_if $px (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
            (call $flush4 (i32.add (local.get $s1) (i32.shl (local.get $g) (i32.const 5))) (local.get $a1))
            (call $flush4 (i32.add (local.get $s2) (i32.shl (local.get $g) (i32.const 5))) (local.get $a2))
            (local.set $g (i32.add (local.get $g) (i32.const 1)))
            (br $gLoop)))
        (local.set $c (i32.shl (local.get $groups) (i32.const 2)))
        (block $tDone
          (loop $tLoop
            (br_if $tDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $f1 (f32.const 0))
            (local.set $f2 (f32.const 0))
            (local.set $mf (f32.load (i32.add (local.get $m) (i32.shl (local.get $c) (i32.const 2)))))
            (local.set $o (i32.shl (local.get $c) (i32.const 2)))
            (local.set $k (local.get $n))
            (loop $tpx
              (local.set $df (f32.load (i32.add (local.get $dy) (local.get $o))))
              (local.set $f1 (f32.add (local.get $f1) (local.get $df)))
              (local.set $f2 (f32.add (local.get $f2)
                (f32.mul (local.get $df) (f32.sub (f32.load (i32.add (local.get $x) (local.get $o))) (local.get $mf)))))
              (local.set $o (i32.add (local.get $o) (local.get $row)))
              (br_if $tpx (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
            (f64.store (i32.add (local.get $s1) (i32.shl (local.get $c) (i32.const 3)))
              (f64.add (f64.load (i32.add (local.get $s1) (i32.shl (local.get $c) (i32.const 3)))) (f64.promote_f32 (local.get $f1))))
            (f64.store (i32.add (local.get $s2) (i32.shl (local.get $c) (i32.const 3)))
              (f64.add (f64.load (i32.add (local.get $s2) (i32.shl (local.get $c) (i32.const 3)))) (f64.promote_f32 (local.get $f2))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tLoop)))
        (local.set $dy (i32.add (local.get $dy) (i32.mul (local.get $n) (local.get $row))))
        (local.set $x (i32.add (local.get $x) (i32.mul (local.get $n) (local.get $row))))
        (local.set $pixels (i32.sub (local.get $pixels) (local.get $n)))
        (br $blocks))))

  ;; out[p, c] = a[c]·u[p, c] + b[c]·(v[p, c] − m[c]) + k[c]       (the input gradient: u = dy, v = x, m = mean;
  ;; centring x before scaling keeps the precision of a tensor whose mean is large against its spread)
  (func (export "channelAffine2")
        (param $u i32) (param $v i32) (param $m i32) (param $a i32) (param $b i32) (param $k i32) (param $out i32)
        (param $pixels i32) (param $C i32)
    (local $off i32) (local $full i32) (local $row i32) (local $c i32)
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $full (i32.shl (i32.shr_u (local.get $C) (i32.const 2)) (i32.const 4)))
    (block $done
      (loop $px
        (br_if $done (i32.eqz (local.get $pixels)))
        (local.set $off (i32.const 0))
        (block $gDone
          (loop $gLoop
            (br_if $gDone (i32.ge_u (local.get $off) (local.get $full)))
            (v128.store (i32.add (local.get $out) (local.get $off))
              (f32x4.add
                (f32x4.add
                  (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $off))) (v128.load (i32.add (local.get $u) (local.get $off))))
                  (f32x4.mul (v128.load (i32.add (local.get $b) (local.get $off)))
                    (f32x4.sub (v128.load (i32.add (local.get $v) (local.get $off))) (v128.load (i32.add (local.get $m) (local.get $off))))))
                (v128.load (i32.add (local.get $k) (local.get $off)))))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $gLoop)))
        (block $tDone
          (loop $tLoop
            (br_if $tDone (i32.ge_u (local.get $off) (local.get $row)))
            (f32.store (i32.add (local.get $out) (local.get $off))
              (f32.add
                (f32.add
                  (f32.mul (f32.load (i32.add (local.get $a) (local.get $off))) (f32.load (i32.add (local.get $u) (local.get $off))))
                  (f32.mul (f32.load (i32.add (local.get $b) (local.get $off)))
                    (f32.sub (f32.load (i32.add (local.get $v) (local.get $off))) (f32.load (i32.add (local.get $m) (local.get $off))))))
                (f32.load (i32.add (local.get $k) (local.get $off)))))
            (local.set $off (i32.add (local.get $off) (i32.const 4)))
            (br $tLoop)))
        (local.set $u (i32.add (local.get $u) (local.get $row)))
        (local.set $v (i32.add (local.get $v) (local.get $row)))
        (local.set $out (i32.add (local.get $out) (local.get $row)))
        (local.set $pixels (i32.sub (local.get $pixels) (i32.const 1)))
        (br $px))))
)
