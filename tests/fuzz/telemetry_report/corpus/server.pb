
reviews-v1-1*o

productpagereviews"v1"“"ÈP`h‚%
reviews-authz	allow-getALLOW(0‚
prDENY 8:Z
-spiffe://meshdeck.local/ns/default/sa/reviews0A1BCN=Meshdeck Root CA"€âÏª*€…Õª