import { Image, type ImageProps, Skeleton, Text } from '@mantine/core';
import { useEffect, useState } from 'react';

import { api } from '@/lib/api-client';
import { isFirebaseConfigured } from '@/lib/firebase';

type AuthImageProps = Omit<ImageProps, 'src'> & { src: string; alt: string };

/**
 * An <img> for API-protected files. Cookies ride along with a plain <img>, but a Firebase bearer token cannot,
 * so with Firebase configured the bytes are fetched through the API client and shown from an object URL.
 */
export function AuthImage({ src, alt, ...props }: AuthImageProps) {
  const viaClient = isFirebaseConfigured();
  const [objectUrl, setObjectUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    if (!viaClient) return;
    const controller = new AbortController();
    let created: string | null = null;
    setFailed(false);
    api
      .blob(src, controller.signal)
      .then((blob) => {
        created = URL.createObjectURL(blob);
        setObjectUrl(created);
      })
      .catch((error: unknown) => {
        if (!(error instanceof DOMException && error.name === 'AbortError')) setFailed(true);
      });
    return () => {
      controller.abort();
      if (created) URL.revokeObjectURL(created);
    };
  }, [src, viaClient]);

  if (!viaClient) return <Image src={src} alt={alt} {...props} />;
  if (failed) {
    return (
      <Text size="xs" c="dimmed">
        Image unavailable
      </Text>
    );
  }
  if (!objectUrl) return <Skeleton h={typeof props.h === 'number' ? props.h : 120} aria-label={`Loading ${alt}`} />;
  return <Image src={objectUrl} alt={alt} {...props} />;
}
