#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <immintrin.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define ROWS 32
#define H 4
#define W 128
#define T 4096
/* mimic: operands [T,H,W] (rows 2 KB apart per head), one head at a time, chunks of 32 rows */
int main(int argc,char**argv){
  int mode=atoi(argv[1]); int ws=atoi(argv[2])*1024; int sweeps=atoi(argv[3]); int skew=argc>4?atoi(argv[4]):0;
  size_t n=(size_t)T*H*W; float*op[5];
  char*arena=aligned_alloc(2<<20, 5*n*4+(4<<20)); if(argc>5&&atoi(argv[5])) madvise(arena,5*n*4+(4<<20),14);
  for(int o=0;o<5;o++){op[o]=(float*)(arena+o*n*4+o*skew); memset(op[o],0,n*4);}
  float*b=aligned_alloc(64,ws); memset(b,0,ws);
  double tg=0,tq=0,tt=now(); float acc=0;
  for(int rep=0;rep<3;rep++) for(int h=0;h<H;h++) for(int c=0;c<T/ROWS;c++){
    size_t r0=(size_t)c*ROWS; double s=now();
    __m256 v=_mm256_setzero_ps();
    for(int r=0;r<ROWS;r++){ float*g=op[3]+((r0+r)*H+h)*W; for(int d=0;d<W;d+=8) v=_mm256_add_ps(v,_mm256_loadu_ps(g+d)); }
    double s2=now(); tg+=s2-s;
    for(int r=0;r<ROWS;r++){ for(int o=0;o<3;o++){ float*x=op[o]+((r0+r)*H+h)*W; for(int d=0;d<W;d+=8) v=_mm256_add_ps(v,_mm256_loadu_ps(x+d)); }
      if(mode&1) if(c+1<T/ROWS){ float*x=op[3]+((r0+ROWS+r)*H+h)*W; for(int l=0;l<W;l+=16) _mm_prefetch((char*)(x+l),_MM_HINT_T1);} }
    tq+=now()-s2;
    float t8[8]; _mm256_storeu_ps(t8,v); acc+=t8[0];
    /* compute phase: sweeps over b; in the middle prefetch next q,k,v (mode&2), write o rows */
    __m256 w=_mm256_set1_ps(1.0001f); int per=ws/4;
    for(int sw=0;sw<sweeps;sw++){
      for(int j=0;j<per;j+=8){ __m256 x=_mm256_loadu_ps(b+j); _mm256_storeu_ps(b+j,_mm256_fmadd_ps(x,w,w));
        int r=j/(per/ROWS);
        if(sw==sweeps/2 && (j%(per/ROWS))==0 && c+1<T/ROWS){
          if(mode&2) for(int o=0;o<3;o++){ float*x=op[o]+((r0+ROWS+r)*H+h)*W; for(int l=0;l<W;l+=16) _mm_prefetch((char*)(x+l),_MM_HINT_T1);}
          if(mode&4) { float*x=op[3]+((r0+ROWS+r)*H+h)*W; for(int l=0;l<W;l+=16) _mm_prefetch((char*)(x+l),_MM_HINT_T1);}
        }
        if((mode&8) && sw==sweeps/2 && c+1<T/ROWS){ int L=j/8; int tot=per/8; /* spread 768 lines evenly */
          int k0=(int)((long)L*768/tot), k1=(int)((long)(L+1)*768/tot);
          for(int k=k0;k<k1;k++){ int o=k/256, rr=(k%256)/8, l=k%8; _mm_prefetch((char*)(op[o]+((r0+ROWS+rr)*H+h)*W+l*16),_MM_HINT_T1);} }
        if(sw==sweeps-1 && (j%(per/ROWS))==0){ float*x=op[4]+((r0+r)*H+h)*W; for(int d=0;d<W;d+=8) _mm256_storeu_ps(x+d,w);} }
    }
  }
  double tot=now()-tt;
  printf("mode %d ws %dK sweeps %d: g phase %.2f ms, qkv phase %.2f ms, total %.1f ms\n",mode,ws/1024,sweeps,tg*1e3,tq*1e3,tot*1e3);
  return acc==1;
}
