/**
 * Polling pauses while the sidebar is hidden behind another left-area tab or
 * the browser tab is in the background, and catches up at once when shown.
 */
import * as React from 'react';
import { act, render } from '@testing-library/react';

import { OnScreenContext, usePoll } from '../panels/common';

function Poller({ tick }: { tick: () => void }): React.ReactElement {
  usePoll(tick, 1000, true);
  return <span>polling</span>;
}

function onScreen(value: boolean, tick: () => void): React.ReactElement {
  return (
    <OnScreenContext.Provider value={value}>
      <Poller tick={tick} />
    </OnScreenContext.Provider>
  );
}

describe('usePoll', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('ticks every period while on screen', () => {
    const tick = jest.fn();
    render(onScreen(true, tick));
    act(() => jest.advanceTimersByTime(3000));
    expect(tick).toHaveBeenCalledTimes(3);
  });

  it('does not tick while the sidebar is hidden, and ticks at once when shown', () => {
    const tick = jest.fn();
    const { rerender } = render(onScreen(false, tick));
    act(() => jest.advanceTimersByTime(10_000));
    expect(tick).not.toHaveBeenCalled();

    rerender(onScreen(true, tick));
    expect(tick).toHaveBeenCalledTimes(1);
    act(() => jest.advanceTimersByTime(1000));
    expect(tick).toHaveBeenCalledTimes(2);
  });

  it('does not tick while the browser tab is in the background', () => {
    const tick = jest.fn();
    const hidden = jest.spyOn(document, 'hidden', 'get').mockReturnValue(true);
    try {
      render(onScreen(true, tick));
      act(() => jest.advanceTimersByTime(5000));
      expect(tick).not.toHaveBeenCalled();
    } finally {
      hidden.mockRestore();
    }
  });
});
