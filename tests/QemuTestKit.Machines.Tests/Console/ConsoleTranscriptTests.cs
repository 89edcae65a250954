using System.Text;
using QemuTestKit.Machines.Console;

namespace QemuTestKit.Machines.Tests.Console;

public sealed class ConsoleTranscriptTests
{
    [Fact]
    public void Chunks_keep_offsets_times_and_bytes()
    {
        var transcript = new ConsoleTranscript();
        var t0 = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);

        transcript.Append("abc"u8, t0);
        transcript.Append("defg"u8, t0.AddSeconds(1));

        transcript.Length.Should().Be(7);
        transcript.Chunks.Select(c => (c.Offset, c.TextOffset, c.TimeUtc, c.Length)).Should().Equal((0L, 0L, t0, 3), (3L, 3L, t0.AddSeconds(1), 4));
        transcript.GetBytes(2).Should().Equal("cdefg"u8.ToArray());
        transcript.GetBytes(2, 2).Should().Equal("cd"u8.ToArray());
        transcript.GetBytes(7).Should().BeEmpty();
        transcript.ChunkIndexAt(3).Should().Be(1);
        transcript.ChunkIndexAt(2).Should().Be(0);
        transcript.ChunkIndexAt(7).Should().Be(-1);
        transcript.Text.Should().Be("abcdefg");
        transcript.GetText(4).Should().Be("efg");
    }

    [Fact]
    public void A_UTF8_character_split_across_chunks_is_decoded_once()
    {
        var transcript = new ConsoleTranscript();
        var bytes = Encoding.UTF8.GetBytes("x\u20acy");

        transcript.Append(bytes.AsSpan(0, 2));
        transcript.Append(bytes.AsSpan(2));

        transcript.Text.Should().Be("x\u20acy");
        transcript.TextLength.Should().Be(3);
        transcript.Chunks[1].TextOffset.Should().Be(1);
        transcript.Length.Should().Be(5);
    }

    [Fact]
    public void An_icount_can_be_recorded_per_chunk()
    {
        var transcript = new ConsoleTranscript();
        transcript.Append("a"u8);
        transcript.Append("b"u8);

        transcript.SetIcount(1, 123456);

        transcript.Chunks[0].Icount.Should().BeNull();
        transcript.Chunks[1].Icount.Should().Be(123456);
        transcript.Invoking(t => t.SetIcount(2, 1)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void The_tail_is_the_last_lines_without_escapes_or_carriage_returns()
    {
        var transcript = new ConsoleTranscript();
        transcript.Append(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(1, 30).Select(i => $"\u001b[1mline {i}\u001b[0m\r\n")) + "# \u001b[6n"));

        var tail = transcript.Tail(3);

        tail.Should().Be("line 29\nline 30\n# ");
        transcript.Tail(100).Split('\n').Should().HaveCount(31);
    }

    [Fact]
    public async Task Save_writes_the_bytes_as_received()
    {
        var transcript = new ConsoleTranscript();
        transcript.Append("a\r\n\u001b[6n\xff"u8.ToArray().Concat(new byte[] { 0xff }).ToArray());
        var path = Path.Combine(Path.GetTempPath(), $"qtk-transcript-{Guid.NewGuid():N}.log");
        try
        {
            await transcript.SaveAsync(path, TestContext.Current.CancellationToken);

            (await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken)).Should().Equal(transcript.GetBytes());
            transcript.Text.Should().EndWith("\ufffd");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Appends_from_several_threads_are_all_kept()
    {
        var transcript = new ConsoleTranscript();

        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 1000; i++)
            {
                transcript.Append("0123456789"u8);
                _ = transcript.Tail(2);
            }
        }, TestContext.Current.CancellationToken)));

        transcript.Length.Should().Be(80_000);
        transcript.ChunkCount.Should().Be(8000);
        transcript.Chunks.Select(c => c.Offset).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
    }
}
