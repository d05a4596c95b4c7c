;; Conv2D filter gradient as a blocked outer-product GEMM, WebAssembly SIMD (f32x4).
;;
;;   acc[(tap·ciPad + ci)·coPad + co] += Σ_{n,oy,ox} x[n, oy·sh + ky·dh − pt, ox·sw + kx·dw − pl, ci] · dy[n, oy, ox, co]
;;
;; with tap = ky·KW + kx, x and dy NHWC float32, everything addressed in place in the wasm backend's heap (this
;; module imports the backend's Memory). The reduction runs over K = N·OH·OW pixels, the output is tiny, so the
;; work is cut in blocks of output rows small enough to stay in L2 (the caller picks `rows`), and inside a block
;; every (tap, 4 input channels, 8 output channels) tile keeps its 8 accumulators in registers over all the
;; block's pixels. XNNPACK's GEMM, by contrast, packs dy anew on every call and re-reads it once per 4-row tile.
;;
;; Partial tiles (Cin not a multiple of 4, Cout of 8) read past the pixel's last channel and accumulate garbage
;; into the padded rows/columns of acc, which the caller discards; the caller also makes sure those over-reads
;; (≤ 32 bytes past x's and dy's ends) stay inside the memory. acc must be zeroed by the caller.
(module
  (import "env" "memory" (memory 1)) ;; MEMORY: the build writes the shared variant for the threaded backend

  ;; Geometry of the current call (set by convFilterGrad, read by $tile).
  (global $H (mut i32) (i32.const 0))
  (global $W (mut i32) (i32.const 0))
  (global $Cin (mut i32) (i32.const 0))
  (global $OH (mut i32) (i32.const 0))
  (global $OW (mut i32) (i32.const 0))
  (global $Cout (mut i32) (i32.const 0))
  (global $sh (mut i32) (i32.const 0))
  (global $sw (mut i32) (i32.const 0))
  (global $coPad (mut i32) (i32.const 0))

  ;; One 4×8 tile of acc (at $ap) accumulated over output rows [$r0, $r1), kernel row offset $kyo = ky·dh − pt,
  ;; pixels ox ∈ [ox0, ox0 + $len): $xo = x's float offset of (ox0's input column, ci0) inside a row, $do = dy's
  ;; float offset of (ox0, co0) inside a row.
  (func $tile (param $x i32) (param $dy i32) (param $ap i32) (param $r0 i32) (param $r1 i32)
              (param $kyo i32) (param $len i32) (param $xo i32) (param $do i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $d0 v128) (local $d1 v128) (local $s v128)
    (local $r i32) (local $n i32) (local $oy i32) (local $iy i32) (local $xp i32) (local $dp i32) (local $k i32)
    (local $xs i32) (local $ds i32) (local $ar i32)
    (local.set $xs (i32.shl (i32.mul (global.get $sw) (global.get $Cin)) (i32.const 2)))
    (local.set $ds (i32.shl (global.get $Cout) (i32.const 2)))
    (local.set $ar (i32.shl (global.get $coPad) (i32.const 2)))
    ;; load the tile
    (local.set $a00 (v128.load (local.get $ap)))
    (local.set $a01 (v128.load offset=16 (local.get $ap)))
    (local.set $a10 (v128.load (i32.add (local.get $ap) (local.get $ar))))
    (local.set $a11 (v128.load offset=16 (i32.add (local.get $ap) (local.get $ar))))
    (local.set $a20 (v128.load (i32.add (local.get $ap) (i32.shl (local.get $ar) (i32.const 1)))))
    (local.set $a21 (v128.load offset=16 (i32.add (local.get $ap) (i32.shl (local.get $ar) (i32.const 1)))))
    (local.set $a30 (v128.load (i32.add (local.get $ap) (i32.mul (local.get $ar) (i32.const 3)))))
    (local.set $a31 (v128.load offset=16 (i32.add (local.get $ap) (i32.mul (local.get $ar) (i32.const 3)))))
    (local.set $n (i32.div_u (local.get $r0) (global.get $OH)))
    (local.set $oy (i32.sub (local.get $r0) (i32.mul (local.get $n) (global.get $OH))))
    (local.set $r (local.get $r0))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $r1)))
        (local.set $iy (i32.add (i32.mul (local.get $oy) (global.get $sh)) (local.get $kyo)))
        ;; rows of x outside the image (padding) contribute nothing
        (if (i32.and (i32.ge_s (local.get $iy) (i32.const 0)) (i32.lt_s (local.get $iy) (global.get $H)))
          (then
            (local.set $xp (i32.add (local.get $x) (i32.shl
              (i32.add (i32.mul (i32.mul (i32.add (i32.mul (local.get $n) (global.get $H)) (local.get $iy)) (global.get $W)) (global.get $Cin))
                       (local.get $xo))
              (i32.const 2))))
            (local.set $dp (i32.add (local.get $dy) (i32.shl
              (i32.add (i32.mul (i32.mul (local.get $r) (global.get $OW)) (global.get $Cout)) (local.get $do))
              (i32.const 2))))
            (local.set $k (local.get $len))
            (block $pxDone
              (loop $px
                (br_if $pxDone (i32.eqz (local.get $k)))
                (local.set $d0 (v128.load (local.get $dp)))
                (local.set $d1 (v128.load offset=16 (local.get $dp)))
                (local.set $s (v128.load32_splat (local.get $xp)))
                (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $s) (local.get $d1))))
                (local.set $s (v128.load32_splat offset=4 (local.get $xp)))
                (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $s) (local.get $d1))))
                (local.set $s (v128.load32_splat offset=8 (local.get $xp)))
                (local.set $a20 (f32x4.add (local.get $a20) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a21 (f32x4.add (local.get $a21) (f32x4.mul (local.get $s) (local.get $d1))))
                (local.set $s (v128.load32_splat offset=12 (local.get $xp)))
                (local.set $a30 (f32x4.add (local.get $a30) (f32x4.mul (local.get $s) (local.get $d0))))
                (local.set $a31 (f32x4.add (local.get $a31) (f32x4.mul (local.get $s) (local.get $d1))))
                (local.set $xp (i32.add (local.get $xp) (local.get $xs)))
                (local.set $dp (i32.add (local.get $dp) (local.get $ds)))
                (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                (br $px)))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (if (i32.eq (local.get $oy) (global.get $OH))
          (then (local.set $oy (i32.const 0)) (local.set $n (i32.add (local.get $n) (i32.const 1)))))
        (br $rows)))
    ;; store the tile
    (v128.store (local.get $ap) (local.get $a00))
    (v128.store offset=16 (local.get $ap) (local.get $a01))
    (v128.store (i32.add (local.get $ap) (local.get $ar)) (local.get $a10))
    (v128.store offset=16 (i32.add (local.get $ap) (local.get $ar)) (local.get $a11))
    (v128.store (i32.add (local.get $ap) (i32.shl (local.get $ar) (i32.const 1))) (local.get $a20))
    (v128.store offset=16 (i32.add (local.get $ap) (i32.shl (local.get $ar) (i32.const 1))) (local.get $a21))
    (v128.store (i32.add (local.get $ap) (i32.mul (local.get $ar) (i32.const 3))) (local.get $a30))
    (v128.store offset=16 (i32.add (local.get $ap) (i32.mul (local.get $ar) (i32.const 3))) (local.get $a31)))

  ;; Adds the gradient of output rows [rowBegin, rowEnd) (rows counted image-major over N·OH) into acc, in blocks
  ;; of `rows` rows. Splitting the rows lets two threads each fill their own acc.
  (func (export "convFilterGrad")
        (param $x i32) (param $dy i32) (param $acc i32)
        (param $h i32) (param $w i32) (param $cin i32) (param $oh i32) (param $ow i32) (param $cout i32)
        (param $kh i32) (param $kw i32) (param $strideH i32) (param $strideW i32) (param $dilH i32) (param $dilW i32)
        (param $padT i32) (param $padL i32) (param $ciPad i32) (param $coPadArg i32)
        (param $rowBegin i32) (param $rowEnd i32) (param $rows i32)
    (local $r0 i32) (local $r1 i32) (local $ky i32) (local $kx i32) (local $ci i32) (local $co i32)
    (local $e i32) (local $ox0 i32) (local $ox1 i32) (local $xo i32) (local $tapBase i32)
    (global.set $H (local.get $h))
    (global.set $W (local.get $w))
    (global.set $Cin (local.get $cin))
    (global.set $OH (local.get $oh))
    (global.set $OW (local.get $ow))
    (global.set $Cout (local.get $cout))
    (global.set $sh (local.get $strideH))
    (global.set $sw (local.get $strideW))
    (global.set $coPad (local.get $coPadArg))
    (local.set $r0 (local.get $rowBegin))
    (block $blocksDone
      (loop $blocks
        (br_if $blocksDone (i32.ge_u (local.get $r0) (local.get $rowEnd)))
        (local.set $r1 (i32.add (local.get $r0) (local.get $rows)))
        (if (i32.gt_u (local.get $r1) (local.get $rowEnd)) (then (local.set $r1 (local.get $rowEnd))))
        (local.set $ky (i32.const 0))
        (block $kyDone
          (loop $kyLoop
            (br_if $kyDone (i32.ge_u (local.get $ky) (local.get $kh)))
            (local.set $kx (i32.const 0))
            (block $kxDone
              (loop $kxLoop
                (br_if $kxDone (i32.ge_u (local.get $kx) (local.get $kw)))
                ;; ox range whose input column ox·sw + kx·dw − pl lies in [0, W)
                (local.set $e (i32.sub (local.get $padL) (i32.mul (local.get $kx) (local.get $dilW))))
                (local.set $ox0 (i32.const 0))
                (if (i32.gt_s (local.get $e) (i32.const 0))
                  (then (local.set $ox0 (i32.div_u (i32.add (local.get $e) (i32.sub (local.get $strideW) (i32.const 1))) (local.get $strideW)))))
                (local.set $e (i32.add (i32.sub (local.get $w) (i32.const 1)) (local.get $e)))
                (local.set $ox1 (i32.const 0))
                (if (i32.ge_s (local.get $e) (i32.const 0))
                  (then (local.set $ox1 (i32.add (i32.div_u (local.get $e) (local.get $strideW)) (i32.const 1)))))
                (if (i32.gt_u (local.get $ox1) (local.get $ow)) (then (local.set $ox1 (local.get $ow))))
                (if (i32.gt_u (local.get $ox1) (local.get $ox0))
                  (then
                    ;; input column of ox0, times Cin: x's row offset of the tile's first pixel
                    (local.set $xo (i32.mul
                      (i32.sub (i32.add (i32.mul (local.get $ox0) (local.get $strideW)) (i32.mul (local.get $kx) (local.get $dilW))) (local.get $padL))
                      (local.get $cin)))
                    (local.set $tapBase (i32.mul (i32.add (i32.mul (local.get $ky) (local.get $kw)) (local.get $kx)) (local.get $ciPad)))
                    (local.set $ci (i32.const 0))
                    (block $ciDone
                      (loop $ciLoop
                        (br_if $ciDone (i32.ge_u (local.get $ci) (local.get $cin)))
                        (local.set $co (i32.const 0))
                        (block $coDone
                          (loop $coLoop
                            (br_if $coDone (i32.ge_u (local.get $co) (local.get $cout)))
                            (call $tile (local.get $x) (local.get $dy)
                              (i32.add (local.get $acc) (i32.shl
                                (i32.add (i32.mul (i32.add (local.get $tapBase) (local.get $ci)) (local.get $coPadArg)) (local.get $co))
                                (i32.const 2)))
                              (local.get $r0) (local.get $r1)
                              (i32.sub (i32.mul (local.get $ky) (local.get $dilH)) (local.get $padT))
                              (i32.sub (local.get $ox1) (local.get $ox0))
                              (i32.add (local.get $xo) (local.get $ci))
                              (i32.add (i32.mul (local.get $ox0) (local.get $cout)) (local.get $co)))
                            (local.set $co (i32.add (local.get $co) (i32.const 8)))
                            (br $coLoop)))
                        (local.set $ci (i32.add (local.get $ci) (i32.const 4)))
                        (br $ciLoop)))))
                (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
                (br $kxLoop)))
            (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
            (br $kyLoop)))
        (local.set $r0 (local.get $r1))
        (br $blocks))))
)
