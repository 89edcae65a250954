using System.Text.Json;
using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Machines.Replay;

/// <summary>Maps a position in a bundle's console transcript to a moment of the recording (an instruction count).</summary>
public static class TranscriptMap
{
    /// <summary>
    /// An icount at which the replay has not yet printed the byte at <paramref name="offset"/>: the stamp of the chunk
    /// before the one holding it (stamps are taken just after a chunk arrives, so they are upper bounds for it).
    /// </summary>
    /// <exception cref="ReplayException">The bundle has no icount map, or the offset lies outside the transcript.</exception>
    public static async Task<long> IcountBeforeAsync(ReplayBundle bundle, long offset, CancellationToken cancellationToken = default)
    {
        var (chunks, index) = await LocateAsync(bundle, offset, cancellationToken).ConfigureAwait(false);
        for (var i = index - 1; i >= 0; i--)
        {
            if (chunks[i].Icount is { } icount)
            {
                return icount;
            }
        }

        throw new ReplayException($"no instruction count is known before offset {offset} of bundle {bundle.Source}: give --until an icount");
    }

    /// <summary>
    /// An icount at which the replay has printed the byte at <paramref name="offset"/>: the stamp of the chunk holding it
    /// (or of the next stamped chunk). Stamps are read just after a chunk arrived, so at that icount the byte was out.
    /// </summary>
    /// <exception cref="ReplayException">The bundle has no icount map, or the offset lies outside the transcript.</exception>
    public static async Task<long> IcountAfterAsync(ReplayBundle bundle, long offset, CancellationToken cancellationToken = default)
    {
        var (chunks, index) = await LocateAsync(bundle, offset, cancellationToken).ConfigureAwait(false);
        for (var i = Math.Max(0, index); i < chunks.Length; i++)
        {
            if (chunks[i].Icount is { } icount)
            {
                return icount;
            }
        }

        throw new ReplayException($"no instruction count is known after offset {offset} of bundle {bundle.Source}: give --until an icount");
    }

    private static async Task<(TranscriptChunk[] Chunks, int Index)> LocateAsync(ReplayBundle bundle, long offset, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var chunksFile = bundle.Manifest.Transcript.ChunksFile
            ?? throw new ReplayException($"bundle {bundle.Source} has no transcript icount map: give --until an icount instead of an offset");
        TranscriptChunk[] chunks;
        try
        {
            chunks = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(bundle.PathOf(chunksFile), cancellationToken).ConfigureAwait(false),
                ChunkJsonContext.Default.TranscriptChunkArray) ?? [];
        }
        catch (JsonException e)
        {
            throw new ReplayException($"the transcript icount map of bundle {bundle.Source} is unreadable: {e.Message}", e);
        }

        if (offset < 0 || offset >= bundle.Manifest.Transcript.Length)
        {
            throw new ReplayException($"offset {offset} is outside the transcript of bundle {bundle.Source} (0 to {bundle.Manifest.Transcript.Length - 1})");
        }

        return (chunks, Array.FindLastIndex(chunks, c => c.Offset <= offset));
    }
}
