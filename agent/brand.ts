// Branded strings: an ImageId cannot be passed where a RepoDigest is expected, though both are strings.
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };
