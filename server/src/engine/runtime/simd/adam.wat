;; One Adam step for one variable, WebAssembly SIMD (f32x4), in place on the wasm backend's heap. TF.js's
;; AdamOptimizer spends ten elementwise ops (ten passes and as many intermediates) per variable per step; this is
;; one pass with the same formula, in the same order of operations:
;;
;;   m' = m·β1 + g·(1 − β1)        v' = v·β2 + g²·(1 − β2)
;;   w' = (m' / c1) / (√(v' / c2) + ε) · (−lr) + w        c1 = 1 − β1^t,  c2 = 1 − β2^t
;;
;; $p points at 8 float32 parameters: β1, 1 − β1, β2, 1 − β2, c1, c2, ε, −lr. The outputs are fresh tensors (TF.js
;; variables are assigned new data, never written in place).
(module
  (import "env" "memory" (memory 1)) ;; MEMORY: the build writes the shared variant for the threaded backend

  (func (export "adamUpdate")
        (param $w i32) (param $m i32) (param $v i32) (param $g i32)
        (param $wOut i32) (param $mOut i32) (param $vOut i32) (param $n i32) (param $p i32)
    (local $b1 v128) (local $nb1 v128) (local $b2 v128) (local $nb2 v128) (local $c1 v128) (local $c2 v128)
    (local $eps v128) (local $nlr v128) (local $gv v128) (local $mv v128) (local $vv v128) (local $off i32) (local $end i32)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $b1 (v128.load32_splat (local.get $p)))
    (local.set $nb1 (v128.load32_splat offset=4 (local.get $p)))
    (local.set $b2 (v128.load32_splat offset=8 (local.get $p)))
    (local.set $nb2 (v128.load32_splat offset=12 (local.get $p)))
    (local.set $c1 (v128.load32_splat offset=16 (local.get $p)))
    (local.set $c2 (v128.load32_splat offset=20 (local.get $p)))
    (local.set $eps (v128.load32_splat offset=24 (local.get $p)))
    (local.set $nlr (v128.load32_splat offset=28 (local.get $p)))
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (local.set $off (i32.const 0))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_u (local.get $off) (local.get $end)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $off))))
        (local.set $mv (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $off))) (local.get $b1))
                                  (f32x4.mul (local.get $gv) (local.get $nb1))))
        (local.set $vv (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $off))) (local.get $b2))
                                  (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $nb2))))
        (v128.store (i32.add (local.get $mOut) (local.get $off)) (local.get $mv))
        (v128.store (i32.add (local.get $vOut) (local.get $off)) (local.get $vv))
        (v128.store (i32.add (local.get $wOut) (local.get $off))
          (f32x4.add
            (f32x4.mul
              (f32x4.div (f32x4.div (local.get $mv) (local.get $c1))
                         (f32x4.add (f32x4.sqrt (f32x4.div (local.get $vv) (local.get $c2))) (local.get $eps)))
              (local.get $nlr))
            (v128.load (i32.add (local.get $w) (local.get $off)))))
        (local.set $off (i32.add (local.get $off) (i32.const 16)))
        (br $vec)))
    ;; the last n mod 4 elements
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tDone
      (loop $tail
        (br_if $tDone (i32.ge_u (local.get $off) (local.get $end)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $off))))
        (local.set $ms (f32.add (f32.mul (f32.load (i32.add (local.get $m) (local.get $off))) (f32.load (local.get $p)))
                                (f32.mul (local.get $gs) (f32.load offset=4 (local.get $p)))))
        (local.set $vs (f32.add (f32.mul (f32.load (i32.add (local.get $v) (local.get $off))) (f32.load offset=8 (local.get $p)))
                                (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (f32.load offset=12 (local.get $p)))))
        (f32.store (i32.add (local.get $mOut) (local.get $off)) (local.get $ms))
        (f32.store (i32.add (local.get $vOut) (local.get $off)) (local.get $vs))
        (f32.store (i32.add (local.get $wOut) (local.get $off))
          (f32.add
            (f32.mul
              (f32.div (f32.div (local.get $ms) (f32.load offset=16 (local.get $p)))
                       (f32.add (f32.sqrt (f32.div (local.get $vs) (f32.load offset=20 (local.get $p)))) (f32.load offset=24 (local.get $p))))
              (f32.load offset=28 (local.get $p)))
            (f32.load (i32.add (local.get $w) (local.get $off)))))
        (local.set $off (i32.add (local.get $off) (i32.const 4)))
        (br $tail))))
)
