
reviews-v1-1 θ*i
-
productpagev1reviews"v2*default2http
"Θ	"χ(d0Π8zdΘ
 €αλ(ΐ„=0ΐ¨¥