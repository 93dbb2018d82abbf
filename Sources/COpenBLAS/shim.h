#include <cblas.h>
/* OpenBLAS's thread controls (declared in cblas.h of OpenBLAS builds). */
