// The part of the `cap` package shadowtap uses: device listing.
declare module 'cap' {
  export const Cap: {
    deviceList(): Array<{
      name: string;
      description?: string;
      addresses?: Array<{ addr: string; netmask?: string; broadaddr?: string }>;
      flags?: string;
    }>;
  };
}
