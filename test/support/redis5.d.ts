// The `redis5` dev dependency is redis@5 under another name, for the smoke suite of the peer range's older major.
declare module 'redis5' {
  export * from 'redis';
}
