/* A C model of the fused FFN kernel's schedule (session 14): token groups of G rows, hidden
 * slices of HS, row kernels of 6 x 16 with A read in place and B in 32-wide packed panels,
 * K blocks of KB. GELU is replaced by ReLU (the model is about the matmuls).
 * Build: gcc -O3 -mavx2 -mfma ffn-model.c -o ffn-model
 * Args:  PFA PFB G HS KB SKIP WS TAIL PACK
 *   PFA  1: burst-prefetch the next row tile's A rows      PFB 0: none, 1: burst next panel,
 *   2: spread next panel over the row tiles (prefetcht1), 3: spread (prefetcht0)
 *   SKIP 1: only the second matmul, 2: only the first      WS 0: one weight slice for all
 *   (weights stay in L2)   TAIL 1: 4+4 instead of 6+2 rows  PACK 1: A packed 6-interleaved
 * On the session-14 Zen 3 (1 thread, medians of 6 alternating runs): PFB 1 62.5 GF/s,
 * PFB 2 76.1, PFB 3 66.6, weights in L2 75.6; packing A did not help (72.4 vs 74.7). */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int PACK=0, TAIL=0, PFA=0, PFB=1, KB=128, SKIP=0, WS=1;
static inline __attribute__((always_inline)) void kern(int rows, int k, const float* a, long as, long AC, const float* b, long bs, float* c, long cs, int acc, const float* pfa){
  __m256 c00=_mm256_setzero_ps(),c01=c00,c10=c00,c11=c00,c20=c00,c21=c00,c30=c00,c31=c00,c40=c00,c41=c00,c50=c00,c51=c00;
  if(PFA && pfa){ for(int r=0;r<6;r++) for(int q=0;q<k;q+=16) _mm_prefetch((const char*)(pfa+r*as+q),_MM_HINT_T0);}
  if(rows==6){
  for(int p=0;p<k;p++){
    __m256 b0=_mm256_load_ps(b+p*bs), b1=_mm256_load_ps(b+p*bs+8);
    const float* ap=a+p*AC; __m256 x;
    x=_mm256_broadcast_ss(ap);      c00=_mm256_fmadd_ps(x,b0,c00); c01=_mm256_fmadd_ps(x,b1,c01);
    x=_mm256_broadcast_ss(ap+as);   c10=_mm256_fmadd_ps(x,b0,c10); c11=_mm256_fmadd_ps(x,b1,c11);
    x=_mm256_broadcast_ss(ap+2*as); c20=_mm256_fmadd_ps(x,b0,c20); c21=_mm256_fmadd_ps(x,b1,c21);
    x=_mm256_broadcast_ss(ap+3*as); c30=_mm256_fmadd_ps(x,b0,c30); c31=_mm256_fmadd_ps(x,b1,c31);
    x=_mm256_broadcast_ss(ap+4*as); c40=_mm256_fmadd_ps(x,b0,c40); c41=_mm256_fmadd_ps(x,b1,c41);
    x=_mm256_broadcast_ss(ap+5*as); c50=_mm256_fmadd_ps(x,b0,c50); c51=_mm256_fmadd_ps(x,b1,c51);
  }} else if(rows==4){
  for(int p=0;p<k;p++){
    __m256 b0=_mm256_load_ps(b+p*bs), b1=_mm256_load_ps(b+p*bs+8);
    const float* ap=a+p*AC; __m256 x;
    x=_mm256_broadcast_ss(ap);      c00=_mm256_fmadd_ps(x,b0,c00); c01=_mm256_fmadd_ps(x,b1,c01);
    x=_mm256_broadcast_ss(ap+as);   c10=_mm256_fmadd_ps(x,b0,c10); c11=_mm256_fmadd_ps(x,b1,c11);
    x=_mm256_broadcast_ss(ap+2*as); c20=_mm256_fmadd_ps(x,b0,c20); c21=_mm256_fmadd_ps(x,b1,c21);
    x=_mm256_broadcast_ss(ap+3*as); c30=_mm256_fmadd_ps(x,b0,c30); c31=_mm256_fmadd_ps(x,b1,c31);
  }} else {
  for(int p=0;p<k;p++){
    __m256 b0=_mm256_load_ps(b+p*bs), b1=_mm256_load_ps(b+p*bs+8);
    const float* ap=a+p*AC; __m256 x;
    x=_mm256_broadcast_ss(ap);      c00=_mm256_fmadd_ps(x,b0,c00); c01=_mm256_fmadd_ps(x,b1,c01);
    x=_mm256_broadcast_ss(ap+as);   c10=_mm256_fmadd_ps(x,b0,c10); c11=_mm256_fmadd_ps(x,b1,c11);
  }}
#define ST(r,v0,v1) if(r<rows){ if(acc){_mm256_storeu_ps(c+r*cs,_mm256_add_ps(_mm256_loadu_ps(c+r*cs),v0)); _mm256_storeu_ps(c+r*cs+8,_mm256_add_ps(_mm256_loadu_ps(c+r*cs+8),v1));} else {_mm256_storeu_ps(c+r*cs,v0);_mm256_storeu_ps(c+r*cs+8,v1);} }
  ST(0,c00,c01) ST(1,c10,c11) ST(2,c20,c21) ST(3,c30,c31) ST(4,c40,c41) ST(5,c50,c51)
}
// C[M x N] (+)= A[M x K] (row stride lda) * Bpacked (panels of 32, panel stride K*32)
static void mm(int M,int N,int K,const float*A,long lda,const float*Bp,long bps,float*C,long ldc,int acc){
  for(int j=0;j<N;j+=16){
    const float* bj=Bp+(j/32)*bps+(j%32);
    const float* nb = j+16<N ? Bp+((j+16)/32)*bps+((j+16)%32) : 0;
    if(PFB==1 && nb){ for(int p=0;p<K;p++) _mm_prefetch((const char*)(nb+p*32),_MM_HINT_T1);}
    int ntiles = ((K+KB-1)/KB)*((M+5)/6), per = (K+ntiles-1)/ntiles, pf=0;
    for(int k0=0;k0<K;k0+=KB){ int kb = K-k0<KB?K-k0:KB;
      int i=0; int m6 = (TAIL && M%6==2 && M>=8) ? M-8 : M; for(;i+6<=m6;i+=6) { if(PFB>=2 && nb) for(int q=0;q<per && pf<K;q++,pf++) { if(PFB==2) _mm_prefetch((const char*)(nb+pf*32),_MM_HINT_T1); else _mm_prefetch((const char*)(nb+pf*32),_MM_HINT_T0);}
        if(lda<0){ kern(6,kb,A+(long)(i/6)*K*6+k0*6,1,6,bj+k0*32,32,C+i*ldc+j,ldc,acc||k0>0,0);} else kern(6,kb,A+i*lda+k0,lda,1,bj+k0*32,32,C+i*ldc+j,ldc,acc||k0>0, i+12<=M? A+(i+6)*lda+k0: 0);}
      for(;i+4<=M;i+=4) kern(4,kb,A+i*lda+k0,lda,1,bj+k0*32,32,C+i*ldc+j,ldc,acc||k0>0,0);
      for(;i+2<=M;i+=2) kern(2,kb,A+i*lda+k0,lda,1,bj+k0*32,32,C+i*ldc+j,ldc,acc||k0>0,0);
    }}
}
int main(int argc,char**argv){
  int T=4096,D=512,H=2048,G=128,HS=128;
  if(argc>1)PFA=atoi(argv[1]); if(argc>2)PFB=atoi(argv[2]); if(argc>3)G=atoi(argv[3]); if(argc>4)HS=atoi(argv[4]); if(argc>5)KB=atoi(argv[5]); if(argc>6)SKIP=atoi(argv[6]); if(argc>7)WS=atoi(argv[7]); if(argc>8)TAIL=atoi(argv[8]); if(argc>9)PACK=atoi(argv[9]);
  float*X=aligned_alloc(64,(long)T*D*4),*Y=aligned_alloc(64,(long)T*D*4),*W1=aligned_alloc(64,(long)D*H*4),*W2=aligned_alloc(64,(long)H*D*4);
  float*h=aligned_alloc(64,G*HS*4),*g=aligned_alloc(64,G*HS*4),*gp=aligned_alloc(64,G*HS*4),*xp=aligned_alloc(64,G*D*4);
  for(long i=0;i<(long)T*D;i++)X[i]=(i%13)*0.01f; for(long i=0;i<(long)D*H;i++){W1[i]=(i%7)*0.001f;W2[i]=(i%5)*0.001f;}
  double best=1e9;
  for(int rep=0;rep<5;rep++){ double t0=now();
  for(int r0=0;r0+G<=T;r0+=G){
    float* x=X+(long)r0*D; float* y=Y+(long)r0*D;
    memset(y,0,G*D*4);
    if(PACK) for(int t=0;t<G/6;t++) for(int p=0;p<D;p++) for(int r=0;r<6;r++) xp[(t*D+p)*6+r]=x[(t*6+r)*D+p];
    for(int s=0;s<H;s+=HS){
      if(PACK) { if(SKIP!=1) mm(G,HS,D,xp,-1,W1+(long)((s*WS)/32)*D*32,(long)D*32,h,HS,0);
        for(int t=0;t<G/6;t++) for(int p=0;p<HS;p++) for(int r=0;r<6;r++){ float v=h[(t*6+r)*HS+p]; gp[(t*HS+p)*6+r]=v>0?v:0.f; }
        if(SKIP!=2) mm(G,D,HS,gp,-1,W2+(long)(s*WS)*32,(long)H*32,y,D,1);
        continue; }
      if(SKIP!=1) mm(G,HS,D,x,D,W1+(long)((s*WS)/32)*D*32,(long)D*32,h,HS,0);
      for(int i=0;i<G*HS;i++) g[i]=h[i]>0?h[i]:0.f;
      if(SKIP!=2) mm(G,D,HS,g,HS,W2+(long)(s*WS)*32,(long)H*32,y,D,1);
    }}
  double dt=now()-t0; if(dt<best)best=dt;}
  printf("SKIP=%d PFA=%d PFB=%d G=%d HS=%d KB=%d: %.1f ms %.1f GF/s\n",SKIP,PFA,PFB,G,HS,KB,best*1e3,(SKIP?2.0:4.0)*(T/G*G)*D*H/best/1e9);
}
