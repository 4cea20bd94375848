import { Alert, Badge, Button, Checkbox, Group, Paper, Select, Stack, Text, Textarea, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';

import { ErrorState, LoadingState } from '@/components/query-state';
import { ReferralLetterButton } from '@/components/report-downloads';
import { useMe } from '@/features/auth/api/get-me';
import { ApiError } from '@/lib/api-client';
import type { Assessment, Management, Review, ReviewInput } from '@/lib/api-types';
import { formatDate, formatDateTime } from '@/lib/format';
import { ASSESSMENTS, FOLLOW_UP_MANAGEMENTS, MANAGEMENTS, READ_KINDS, REVIEW_STATES } from '@/lib/vocabulary';

import { useReviews, useSignReview } from '../api/reviews';

const today = () => new Date().toISOString().slice(0, 10);

function SignedReview({ review }: { review: Review }) {
  return (
    <Paper withBorder p="sm" radius="sm" component="article" aria-label={`${READ_KINDS[review.kind]} by ${review.reader_email}`}>
      <Stack gap={4}>
        <Group gap="xs" justify="space-between">
          <Text size="sm" fw={600}>
            {READ_KINDS[review.kind]} · {review.reader_email}
          </Text>
          <Text size="xs" c="dimmed">
            signed {formatDateTime(review.signed_at)}
            {review.supersedes !== null ? ' · amendment' : ''}
          </Text>
        </Group>
        <Group gap="xs">
          <Badge variant="outline" color={review.assessment === 'benign' ? 'teal' : 'red'}>
            {ASSESSMENTS[review.assessment]}
          </Badge>
          <Text size="sm">
            {MANAGEMENTS[review.management]}
            {review.follow_up_date ? ` on ${formatDate(review.follow_up_date)}` : ''}
          </Text>
          {/* Default variant: body-coloured text passes contrast in both themes; the words carry the meaning. */}
          <Badge variant="default">
            {review.agrees_with_model ? 'Agrees with the model' : `Disagrees with the model (${review.model_risk})`}
          </Badge>
        </Group>
        {review.notes ? <Text size="sm">{review.notes}</Text> : null}
        {review.management === 'urgent_referral' && review.is_current ? <ReferralLetterButton reviewId={review.id} /> : null}
      </Stack>
    </Paper>
  );
}

/**
 * The signed reviews of one result and the form for the next read. Which read it is (first, second, third or a
 * consensus note) follows from the result's state on the server, which also enforces the second reader's rules:
 * a second reader does not see the first read before signing, and cannot be its author.
 */
export function ReviewPanel({ predictionId, onSigned }: { predictionId: number; onSigned?: () => void }) {
  const reviews = useReviews(predictionId);
  const sign = useSignReview(predictionId);
  const { data: me } = useMe();
  const form = useForm<ReviewInput>({
    initialValues: { assessment: 'benign', management: 'discharge', follow_up_date: null, notes: '', consensus: false },
    validate: {
      follow_up_date: (value, values) =>
        FOLLOW_UP_MANAGEMENTS.has(values.management) && !(value && value >= today()) ? 'Choose a follow-up date from today on' : null,
    },
  });

  if (reviews.isPending) return <LoadingState label="Loading reviews…" />;
  if (reviews.isError) return <ErrorState error={reviews.error} onRetry={() => reviews.refetch()} />;
  const { state, withheld } = reviews.data;
  const signed = reviews.data.reviews.filter((review) => review.signed && review.is_current);
  const draft = reviews.data.reviews.find((review) => !review.signed && review.reader_id === me?.id) ?? null;
  // The first reader waits for someone else's independent second read (the server refuses them as second reader).
  const waitingForOther = state === 'awaiting_second_read' && signed.some((review) => review.reader_id === me?.id);
  const open = state === 'unreviewed' || (state === 'awaiting_second_read' && !waitingForOther) || state === 'disagreement';
  const fieldErrors = sign.error instanceof ApiError ? sign.error.fields : {};
  const needsDate = FOLLOW_UP_MANAGEMENTS.has(form.values.management);

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-label="Review">
      <Stack gap="sm">
        <Group justify="space-between">
          <Title order={2} size="h4">
            Review
          </Title>
          <Badge variant={state === 'disagreement' ? 'filled' : 'default'} color={state === 'disagreement' ? 'orange.9' : undefined}>
            {REVIEW_STATES[state]}
          </Badge>
        </Group>
        {signed.map((review) => (
          <SignedReview key={review.id} review={review} />
        ))}
        {withheld > 0 ? (
          <Text size="sm" c="dimmed" role="note">
            {withheld === 1 ? 'A signed read is' : `${withheld} signed reads are`} hidden until you sign your independent second read.
          </Text>
        ) : null}
        {waitingForOther ? (
          <Text size="sm" c="dimmed" role="status">
            Another clinician of the clinic reads this result independently; you cannot be its second reader.
          </Text>
        ) : null}
        {open ? (
          <form
            aria-label="Sign a review"
            noValidate
            onSubmit={form.onSubmit((values) => {
              const input: ReviewInput = {
                ...values,
                follow_up_date: FOLLOW_UP_MANAGEMENTS.has(values.management) ? values.follow_up_date : null,
                consensus: state === 'disagreement' && values.consensus,
              };
              sign.mutate(
                { input, draftId: draft?.id ?? null },
                {
                  onSuccess: () => {
                    form.reset();
                    onSigned?.();
                  },
                },
              );
            })}
          >
            <Stack gap="sm">
              {sign.isError && Object.keys(fieldErrors).length === 0 ? (
                <Alert color="red" role="alert">
                  {(sign.error as Error).message}
                </Alert>
              ) : null}
              <Group grow align="flex-start">
                <Select
                  label="Your assessment"
                  data={Object.entries(ASSESSMENTS).map(([value, label]) => ({ value, label }))}
                  allowDeselect={false}
                  {...form.getInputProps('assessment')}
                  onChange={(value) => value && form.setFieldValue('assessment', value as Assessment)}
                  error={fieldErrors.assessment?.join(' ')}
                />
                <Select
                  label="Management"
                  data={Object.entries(MANAGEMENTS).map(([value, label]) => ({ value, label }))}
                  allowDeselect={false}
                  {...form.getInputProps('management')}
                  onChange={(value) => value && form.setFieldValue('management', value as Management)}
                  error={fieldErrors.management?.join(' ')}
                />
              </Group>
              {needsDate ? (
                <TextInput
                  label="Follow-up date"
                  type="date"
                  min={today()}
                  value={form.values.follow_up_date ?? ''}
                  onChange={(event) => form.setFieldValue('follow_up_date', event.currentTarget.value || null)}
                  error={fieldErrors.follow_up_date?.join(' ') ?? form.errors.follow_up_date}
                />
              ) : null}
              <Textarea label="Notes" autosize minRows={2} {...form.getInputProps('notes')} />
              {state === 'disagreement' ? (
                <Checkbox
                  label="This is a consensus note (instead of a third independent read)"
                  {...form.getInputProps('consensus', { type: 'checkbox' })}
                />
              ) : null}
              <Text size="xs" c="dimmed">
                Signing locks the review; a change later is an amendment that keeps this version.
              </Text>
              <Group justify="flex-end">
                <Button type="submit" loading={sign.isPending}>
                  Sign review
                </Button>
              </Group>
            </Stack>
          </form>
        ) : null}
      </Stack>
    </Paper>
  );
}
